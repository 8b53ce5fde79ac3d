package webhook

import "github.com/tributary-dev/tributary/tracing"

// Metadata keys of the W3C trace context (https://www.w3.org/TR/trace-context/),
// the same the sources and the router use (package tracing). The sink sends
// them as the traceparent and tracestate headers.
const (
	MetaTraceparent = tracing.MetaTraceparent
	MetaTracestate  = tracing.MetaTracestate
)

// validHeaderValue refuses control characters (CR, LF, NUL …), which
// net/http would reject and which could split a header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 127 {
			return false
		}
	}
	return true
}
