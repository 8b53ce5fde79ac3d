package builtin

import "github.com/tributary-dev/tributary/tracing"

// W3C trace context travels in message metadata under the header's own
// names (package tracing): the source sets MetaTraceparent, the router
// continues it with its ingest and delivery spans, the sink sends it as the
// `traceparent` header.
const (
	MetaTraceparent = tracing.MetaTraceparent
	MetaTracestate  = tracing.MetaTracestate
)

// NewTraceparent starts a trace: a random trace id and parent id, sampled.
func NewTraceparent() string { return tracing.Format(tracing.New()) }

// ValidTraceparent reports whether s is a traceparent as W3C Trace Context
// defines it (otel's propagator parses it).
func ValidTraceparent(s string) bool { return tracing.Parse(s).IsValid() }

// TraceID returns the trace id of a valid traceparent, else "".
func TraceID(traceparent string) string {
	if sc := tracing.Parse(traceparent); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
