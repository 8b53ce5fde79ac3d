package middleware

import (
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/backoff"
)

// ScheduleKind names how a Schedule computes its delays.
type ScheduleKind string

const (
	ScheduleLinear      ScheduleKind = "linear"
	ScheduleExponential ScheduleKind = "exponential"
	ScheduleList        ScheduleKind = "list"
)

// Schedule says how long a failed delivery waits before its next attempt. It
// is a plain value so that a config file decodes into it.
type Schedule struct {
	Kind ScheduleKind `json:"kind" yaml:"kind"`
	// Step is the linear step: retry n waits n × Step.
	Step time.Duration `json:"step,omitempty" yaml:"step,omitempty"`
	// Base and Max bound the exponential schedule: retry n waits Base·2^(n-1), at most Max.
	Base time.Duration `json:"base,omitempty" yaml:"base,omitempty"`
	Max  time.Duration `json:"max,omitempty" yaml:"max,omitempty"`
	// Retries is how many retries linear and exponential schedules make.
	Retries int `json:"retries,omitempty" yaml:"retries,omitempty"`
	// Delays is the explicit list: retry n waits Delays[n-1].
	Delays []time.Duration `json:"delays,omitempty" yaml:"delays,omitempty"`
	// Jitter spreads each delay by ±Jitter (a fraction, 0 to 1) so that
	// messages failed together do not retry together.
	Jitter float64 `json:"jitter,omitempty" yaml:"jitter,omitempty"`
}

// Linear retries `retries` times, the n-th after n × step (e.g. 1 min × attempt).
func Linear(step time.Duration, retries int) Schedule {
	return Schedule{Kind: ScheduleLinear, Step: step, Retries: retries}
}

// Exponential retries `retries` times, the n-th after base·2^(n-1), capped at max.
func Exponential(base, max time.Duration, retries int) Schedule {
	return Schedule{Kind: ScheduleExponential, Base: base, Max: max, Retries: retries}
}

// List retries once per delay, in order.
func List(delays ...time.Duration) Schedule {
	return Schedule{Kind: ScheduleList, Delays: delays}
}

// Validate reports every problem with s, each a *tributary.OptionError
// named by its key in a pipeline file's `schedule:` block.
func (s Schedule) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	switch s.Kind {
	case ScheduleLinear:
		if s.Step <= 0 {
			bad("step", "must be positive (a linear schedule waits n × step)")
		}
	case ScheduleExponential:
		if s.Base <= 0 {
			bad("base", "must be positive")
		} else if s.Max < s.Base {
			bad("max", "must be at least base (%s)", s.Base)
		}
	case ScheduleList:
		for i, d := range s.Delays {
			if d < 0 {
				bad(fmt.Sprintf("delays[%d]", i), "must not be negative")
			}
		}
	default:
		bad("kind", "schedule kind %q: want linear, exponential or list", s.Kind)
	}
	if s.Kind != ScheduleList && s.Retries < 0 {
		bad("retries", "must not be negative")
	}
	if s.Jitter < 0 || s.Jitter > 1 {
		bad("jitter", "want a fraction between 0 and 1")
	}
	return errors.Join(errs...)
}

// Len is the number of retries the schedule makes.
func (s Schedule) Len() int {
	if s.Kind == ScheduleList {
		return len(s.Delays)
	}
	return s.Retries
}

// Delay returns the wait before retry n (1-based) and false once the schedule
// is exhausted.
func (s Schedule) Delay(n int) (time.Duration, bool) {
	if n < 1 || n > s.Len() {
		return 0, false
	}
	var d time.Duration
	switch s.Kind {
	case ScheduleLinear:
		d = time.Duration(n) * s.Step
	case ScheduleExponential:
		d = backoff.Exponential(s.Base, 2, n-1, s.Max)
	case ScheduleList:
		d = s.Delays[n-1]
	}
	return backoff.Jitter(d, s.Jitter), true
}

// Wait returns how long the message whose attempt-th attempt failed with err
// waits before the next, and false once the schedule is exhausted: the
// schedule's delay, replaced by a RetryAfter error's wait, raised to a
// NotBefore error's. Requeue and every sink that keeps its own queue (the
// subscriptions sink) decide with it.
func (s Schedule) Wait(attempt int, err error) (time.Duration, bool) {
	wait, ok := s.Delay(attempt)
	if !ok {
		return 0, false
	}
	var r retryAfterError
	switch {
	case !errors.As(err, &r):
	case r.atLeast:
		wait = max(wait, r.after)
	default:
		wait = r.after
	}
	return wait, true
}

// Total is the sum of the schedule's delays without jitter: how long after
// the first failure the last retry happens.
func (s Schedule) Total() time.Duration {
	noJitter := s
	noJitter.Jitter = 0
	var total time.Duration
	for n := 1; n <= s.Len(); n++ {
		d, _ := noJitter.Delay(n)
		total += d
	}
	return total
}
