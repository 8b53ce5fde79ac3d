package middleware_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
)

func TestScheduleDelays(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		s     middleware.Schedule
		want  []time.Duration
		total time.Duration
	}{
		{"linear, seed 003", middleware.Linear(time.Minute, 5),
			[]time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}, 15 * time.Minute},
		{"exponential capped", middleware.Exponential(time.Second, 5*time.Second, 5),
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, 17 * time.Second},
		{"list", middleware.List(5*time.Second, 5*time.Minute),
			[]time.Duration{5 * time.Second, 5 * time.Minute}, 5*time.Minute + 5*time.Second},
		{"no retries", middleware.Linear(time.Minute, 0), nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); err != nil {
				t.Fatal(err)
			}
			for i, want := range c.want {
				got, ok := c.s.Delay(i + 1)
				if !ok || got != want {
					t.Fatalf("retry %d: %v %v, want %v", i+1, got, ok, want)
				}
			}
			if _, ok := c.s.Delay(len(c.want) + 1); ok {
				t.Fatal("schedule not exhausted after its last retry")
			}
			if c.s.Total() != c.total {
				t.Fatalf("total %v, want %v", c.s.Total(), c.total)
			}
		})
	}
}

func TestScheduleJitterStaysInBounds(t *testing.T) {
	t.Parallel()
	s := middleware.Linear(time.Minute, 3)
	s.Jitter = 0.1
	for i := 0; i < 1000; i++ {
		d, _ := s.Delay(2)
		if d < 108*time.Second || d > 132*time.Second {
			t.Fatalf("jittered delay %v outside 2 min ± 10%%", d)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	t.Parallel()
	bad := []middleware.Schedule{
		{Kind: "linear"},
		{Kind: "exponential", Base: time.Second, Max: time.Millisecond},
		{Kind: "list", Delays: []time.Duration{-1}},
		{Kind: "nope"},
		{Kind: "linear", Step: time.Second, Jitter: 2},
	}
	for i, s := range bad {
		if s.Validate() == nil {
			t.Errorf("case %d: %+v validated", i, s)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	if middleware.IsPermanent(base) {
		t.Fatal("plain error is permanent")
	}
	if !middleware.IsPermanent(fmt.Errorf("wrapped: %w", middleware.Permanent(base))) {
		t.Fatal("wrapped permanent error not recognised")
	}
	if !errors.Is(middleware.Permanent(base), base) {
		t.Fatal("Permanent hides its cause")
	}
	if d, ok := middleware.RetryAfterOf(fmt.Errorf("x: %w", middleware.RetryAfter(base, 3*time.Second))); !ok || d != 3*time.Second {
		t.Fatalf("RetryAfterOf = %v %v", d, ok)
	}
	if middleware.Permanent(nil) != nil || middleware.RetryAfter(nil, time.Second) != nil {
		t.Fatal("nil error wrapped")
	}
}

func TestRetryMiddleware(t *testing.T) {
	t.Parallel()
	r := middleware.Retry{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Multiplier: 2}
	cases := []struct {
		name      string
		err       func(call int) error
		wantCalls int
	}{
		{"succeeds after two failures", func(c int) error {
			if c < 3 {
				return errors.New("blip")
			}
			return nil
		}, 3},
		{"gives up after max retries", func(int) error { return errors.New("down") }, 4},
		{"permanent is not retried", func(int) error { return middleware.Permanent(errors.New("400")) }, 1},
		{"long Retry-After goes to requeue", func(int) error { return middleware.RetryAfter(errors.New("429"), time.Hour) }, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			h := r.Middleware(func(*message.Message) ([]*message.Message, error) {
				calls++
				return nil, c.err(calls)
			})
			_, _ = h(message.NewMessage("1", nil))
			if calls != c.wantCalls {
				t.Fatalf("%d calls, want %d", calls, c.wantCalls)
			}
		})
	}
}
