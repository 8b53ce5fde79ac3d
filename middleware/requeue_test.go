package middleware_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
)

type discardPublisher struct{}

func (discardPublisher) Publish(string, ...*message.Message) error { return nil }
func (discardPublisher) Close() error                              { return nil }

// TestRequeueWaitTakesTheSchedule: the requeue's schedule is the sink's only
// one. A sink's own wait (NotBefore, an open breaker's cooldown) can only
// lengthen the schedule's delay, never shorten it; a receiver's Retry-After
// replaces it.
func TestRequeueWaitTakesTheSchedule(t *testing.T) {
	t.Parallel()
	sched := middleware.List(time.Minute, time.Hour)
	fail := errors.New("fail")
	tests := []struct {
		name     string
		attempts string // failed attempts before this one
		err      error
		want     time.Duration
	}{
		{"plain error: the schedule", "", fail, time.Minute},
		{"short floor: the schedule", "", middleware.NotBefore(fail, time.Second), time.Minute},
		{"long floor: the floor", "", middleware.NotBefore(fail, 2*time.Minute), 2 * time.Minute},
		{"floor below the second delay", "1", middleware.NotBefore(fail, 2*time.Minute), time.Hour},
		{"Retry-After replaces it", "", middleware.RetryAfter(fail, time.Second), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got time.Duration
			q := middleware.Requeue{
				Schedule:  sched,
				Topic:     "retry",
				Publisher: func(*message.Message) (message.Publisher, error) { return discardPublisher{}, nil },
				OnRequeue: func(_ *message.Message, _ int, wait time.Duration, _ error) { got = wait },
			}
			msg := message.NewMessage("1", nil)
			if tt.attempts != "" {
				msg.Metadata.Set(middleware.MetaAttempts, tt.attempts)
			}
			h := q.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, tt.err })
			if _, err := h(msg); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("wait %v, want %v", got, tt.want)
			}
		})
	}
}
