package webhook_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestTraceContextAndMetadataHeaders: the W3C trace context in the message's
// metadata reaches the receiver as the traceparent / tracestate headers (a
// malformed one is not passed on), and MetadataHeaders forwards the keys it
// names.
func TestTraceContextAndMetadataHeaders(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name            string
		traceparent     string
		tracestate      string
		wantTraceparent string
		wantTracestate  string
	}{
		{"valid", tp, "vendor=abc", tp, "vendor=abc"},
		{"no trace", "", "", "", ""},
		{"malformed", "00-xyz-00f067aa0ba902b7-01", "vendor=abc", "", ""},
		{"all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "", ""},
		{"upper-case hex", strings.ToUpper(tp), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, nil)
			p := newSink(t, webhook.Config{
				URL:             rc.URL,
				MetadataHeaders: map[string]string{"X-Event-Type": tributary.MetaEventType, "X-Absent": "nope"},
			})
			msg := event("evt-1", `{}`)
			msg.Metadata.Set(tributary.MetaEventType, "door.unlocked")
			if tt.traceparent != "" {
				msg.Metadata.Set(webhook.MetaTraceparent, tt.traceparent)
			}
			if tt.tracestate != "" {
				msg.Metadata.Set(webhook.MetaTracestate, tt.tracestate)
			}
			if err := p.Publish("crm", msg); err != nil {
				t.Fatal(err)
			}
			h := rc.Requests()[0].Header
			if got := h.Get("traceparent"); got != tt.wantTraceparent {
				t.Errorf("traceparent = %q, want %q", got, tt.wantTraceparent)
			}
			if got := h.Get("tracestate"); got != tt.wantTracestate {
				t.Errorf("tracestate = %q, want %q", got, tt.wantTracestate)
			}
			if got := h.Get("X-Event-Type"); got != "door.unlocked" {
				t.Errorf("X-Event-Type = %q, want the event type", got)
			}
			if _, ok := h["X-Absent"]; ok {
				t.Errorf("header for absent metadata sent: %v", h["X-Absent"])
			}
		})
	}
}

func TestMetadataHeadersValidate(t *testing.T) {
	t.Parallel()
	for hdr, want := range map[string]string{
		"traceparent":  "set by the sink",
		"webhook-id":   "set by the sink",
		"Bad Header":   "not a valid token",
		"X-Event-Type": "",
	} {
		_, err := webhook.NewPublisher(webhook.Config{URL: "https://example.com/x",
			MetadataHeaders: map[string]string{hdr: tributary.MetaEventType}}, nil)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("metadata header %q: err = %v, want %q", hdr, err, want)
		}
	}
	if _, err := webhook.NewPublisher(webhook.Config{URL: "https://example.com/x",
		MetadataHeaders: map[string]string{"X-Event-Type": ""}}, nil); err == nil || !strings.Contains(err.Error(), "names no metadata key") {
		t.Errorf("empty metadata key: err = %v", err)
	}
}
