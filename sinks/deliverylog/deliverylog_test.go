package deliverylog_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// TestRecordKeepsRequestHeaders: the headers an attempt sent come back from
// Query as recorded (text a TEXT column refuses made storable), and an
// attempt recorded without them comes back without them.
func TestRecordKeepsRequestHeaders(t *testing.T) {
	t.Parallel()
	log := deliverylog.NewPostgres(pgtest.NewPool(t))
	ctx := context.Background()
	tests := []struct {
		name      string
		sent, got map[string]string
	}{
		{"headers", map[string]string{"Webhook-Id": "ev-1", "Webhook-Signature": "[redacted]"},
			map[string]string{"Webhook-Id": "ev-1", "Webhook-Signature": "[redacted]"}},
		{"NUL and invalid UTF-8", map[string]string{"X-Odd": "a\x00b\xff"}, map[string]string{"X-Odd": "a\uFFFDb\uFFFD"}},
		{"none", nil, nil},
	}
	for _, tc := range tests {
		if err := log.Record(ctx, deliverylog.Attempt{Pipeline: "p", Sink: "s", EventID: tc.name, Outcome: deliverylog.OutcomeSuccess,
			Time: time.Now(), RequestHeaders: tc.sent}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range tests {
		got, err := log.Query(ctx, deliverylog.Filter{EventID: tc.name})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %v", tc.name, got, err)
		}
		if !maps.Equal(got[0].RequestHeaders, tc.got) || (tc.got == nil) != (got[0].RequestHeaders == nil) {
			t.Errorf("%s: headers %q, want %q", tc.name, got[0].RequestHeaders, tc.got)
		}
	}
}
