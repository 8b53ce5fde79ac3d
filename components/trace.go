package components

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// W3C trace context travels in message metadata under the header's own
// names, so a source that receives or starts a trace and a sink that sends
// HTTP need agree on nothing else: the source sets MetaTraceparent, the
// router keeps metadata through the topic and retries, the sink sends it as
// the `traceparent` header.
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
)

// NewTraceparent starts a trace: version 00, a random trace id and parent
// id, sampled.
func NewTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// ValidTraceparent reports whether s is a version-00 traceparent as W3C
// Trace Context defines it: 00-<32 lower hex, not all 0>-<16 lower hex, not
// all 0>-<2 lower hex>.
func ValidTraceparent(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return false
	}
	for _, p := range parts[1:] {
		for i := 0; i < len(p); i++ {
			if c := p[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return strings.Trim(parts[1], "0") != "" && strings.Trim(parts[2], "0") != ""
}

// TraceID returns the trace id of a valid traceparent, else "".
func TraceID(traceparent string) string {
	if !ValidTraceparent(traceparent) {
		return ""
	}
	return traceparent[3:35]
}
