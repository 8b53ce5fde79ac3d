package webhook

// Metadata keys of the W3C trace context (https://www.w3.org/TR/trace-context/),
// the same the sources and the reference binary use. The sink forwards them
// as the traceparent and tracestate headers.
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
)

// validTraceparent reports whether s is a version-00 traceparent
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", ids not all
// zero), so that a malformed value is never passed on.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	traceID, parentID, flags := s[3:35], s[36:52], s[53:]
	return lowerHex(traceID) && lowerHex(parentID) && lowerHex(flags) &&
		traceID != "00000000000000000000000000000000" && parentID != "0000000000000000"
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

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
