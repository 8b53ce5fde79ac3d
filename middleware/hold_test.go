package middleware_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
)

// TestHoldNacksUntilTheScheduleRunsOut: a failure is returned (the message
// is nacked and held) with the next attempt's time on it, from the same
// schedule Requeue follows; once the schedule runs out the error is
// ErrExhausted (poisoned); a permanent error passes straight on.
func TestHoldNacksUntilTheScheduleRunsOut(t *testing.T) {
	t.Parallel()
	fail := errors.New("fail")
	tests := []struct {
		name      string
		attempts  string
		err       error
		wantWait  time.Duration
		exhausted bool
	}{
		{"first failure: the schedule", "", fail, time.Minute, false},
		{"Retry-After replaces it", "", middleware.RetryAfter(fail, time.Second), time.Second, false},
		{"schedule run out", "2", fail, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got time.Duration
			h := middleware.Hold{Schedule: middleware.List(time.Minute, time.Hour),
				OnHold: func(_ *message.Message, _ int, wait time.Duration, _ error) { got = wait }}
			msg := message.NewMessage("1", nil)
			if tt.attempts != "" {
				msg.Metadata.Set(middleware.MetaAttempts, tt.attempts)
			}
			before := time.Now()
			_, err := h.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, tt.err })(msg)
			if !errors.Is(err, fail) {
				t.Fatalf("err %v, want the delivery's error", err)
			}
			if tt.exhausted {
				if !errors.Is(err, middleware.ErrExhausted) || !middleware.IsPermanent(err) {
					t.Fatalf("err %v, want ErrExhausted (permanent)", err)
				}
				return
			}
			until, perr := time.Parse(time.RFC3339Nano, msg.Metadata.Get(delay.DelayedUntilKey))
			if got != tt.wantWait || perr != nil || until.Before(before.Add(tt.wantWait-time.Second)) {
				t.Fatalf("wait %v until %v (%v), want %v", got, until, perr, tt.wantWait)
			}
			if middleware.Attempts(msg) == 0 {
				t.Fatal("failure not stamped")
			}
		})
	}
	perm := middleware.Permanent(fail)
	_, err := middleware.Hold{Schedule: middleware.List(time.Minute)}.Middleware(
		func(*message.Message) ([]*message.Message, error) { return nil, perm })(message.NewMessage("2", nil))
	if !middleware.IsPermanent(err) {
		t.Fatalf("permanent error: %v", err)
	}
}
