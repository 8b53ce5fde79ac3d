package router_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// TestOptionValidateNamesFileKeys: each option type's Validate names the
// key a pipeline file writes, so that config can point at its line and a
// Go caller reads which field is wrong.
func TestOptionValidateNamesFileKeys(t *testing.T) {
	t.Parallel()
	byKey := func(*message.Message) (string, error) { return "", nil }
	tests := []struct {
		name string
		err  error
		want []string // "key: message prefix"
	}{
		{"dedup", router.DedupPolicy{TTL: -time.Second}.Validate(), []string{"ttl: must not be negative"}},
		{"preset and schedule", router.RetryPolicy{Preset: "standard", Schedule: middleware.Linear(time.Second, 2)}.Validate(),
			[]string{"preset: give schedule or preset, not both"}},
		{"unknown preset", router.RetryPolicy{Preset: "hourly"}.Validate(), []string{`preset: schedule "hourly"`}},
		{"schedule and in_process", router.RetryPolicy{
			Schedule:  middleware.Schedule{Kind: middleware.ScheduleLinear, Retries: -1},
			InProcess: &middleware.Retry{MaxRetries: -1, MaxInterval: time.Second, Multiplier: 0.5},
		}.Validate(), []string{"schedule.step: must be positive", "schedule.retries: must not be negative",
			"in_process.max_retries: must not be negative", "in_process.multiplier: must be at least 1"}},
		{"sink", router.Sink{Lanes: 2000, OnFailure: "drop", OrderKey: byKey, Retry: &router.RetryPolicy{Preset: "x,y"}}.ValidateOptions(),
			[]string{"retry.preset: schedule", "lanes: 2000; want 1 to 1024", `on_failure: "drop"`}},
		{"sink without order key", router.Sink{Lanes: 4}.ValidateOptions(), []string{"lanes and on_failure need order_by"}},
		{"backend type", router.BackendConfig{Type: "kafka"}.Validate(), []string{`type: unknown backend "kafka"`}},
		{"postgres with url", router.BackendConfig{JetStreamConfig: router.JetStreamConfig{URL: "nats://x", Replicas: 3}}.Validate(),
			[]string{"url: the postgres backend uses DATABASE_URL", "replicas and ack_wait are for type jetstream"}},
		{"jetstream", router.BackendConfig{Type: router.BackendJetStream, JetStreamConfig: router.JetStreamConfig{Replicas: 7, AckWait: -1}}.Validate(),
			[]string{"replicas: 7; want 1 to 5", "ack_wait: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, rest := tributary.OptionErrors(tt.err)
			if len(rest) > 0 {
				t.Fatalf("errors that name no key: %v", rest)
			}
			if len(opts) != len(tt.want) {
				t.Fatalf("got %d problems (%v), want %d", len(opts), tt.err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(opts[i].Error(), w) {
					t.Errorf("problem %d: %q, want it to start with %q", i, opts[i].Error(), w)
				}
			}
		})
	}
	for _, ok := range []error{
		router.DedupPolicy{}.Validate(), router.RetryPolicy{}.Validate(), router.RetryPolicy{Preset: "parakey"}.Validate(),
		router.Sink{}.ValidateOptions(), router.BackendConfig{}.Validate(),
		router.BackendConfig{Type: router.BackendJetStream, JetStreamConfig: router.JetStreamConfig{URL: "nats://x", Replicas: 3}}.Validate(),
	} {
		if ok != nil {
			t.Errorf("valid options refused: %v", ok)
		}
	}
}
