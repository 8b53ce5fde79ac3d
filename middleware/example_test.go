package middleware_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tributary-dev/tributary/middleware"
)

// The three kinds of retry schedule, and what a sink's errors do to them.
func ExampleSchedule() {
	for _, s := range []middleware.Schedule{
		middleware.Linear(time.Minute, 3),
		middleware.Exponential(5*time.Second, time.Minute, 6),
		middleware.List(10*time.Second, time.Minute, 10*time.Minute),
	} {
		var delays []time.Duration
		for n := 1; ; n++ {
			d, ok := s.Delay(n)
			if !ok {
				break
			}
			delays = append(delays, d)
		}
		fmt.Println(s.Kind, delays, "last retry after", s.Total())
	}
	// Output:
	// linear [1m0s 2m0s 3m0s] last retry after 6m0s
	// exponential [5s 10s 20s 40s 1m0s 1m0s] last retry after 3m15s
	// list [10s 1m0s 10m0s] last retry after 11m10s
}

// Jitter spreads each delay by up to ±Jitter of it, so that messages that
// failed together do not all retry at the same moment.
func ExampleSchedule_jitter() {
	s := middleware.Linear(time.Minute, 3)
	s.Jitter = 0.2
	d, _ := s.Delay(1)
	fmt.Println(d >= 48*time.Second && d <= 72*time.Second)
	// Output: true
}

// A sink reads a receiver's Retry-After and marks its error with it; the
// router then waits that long instead of the schedule's delay.
func ExampleParseRetryAfter() {
	h := http.Header{}
	h.Set("Retry-After", "120")
	wait, ok := middleware.ParseRetryAfter(h, time.Now())
	err := middleware.RetryAfter(errors.New("status 429"), wait)
	after, _ := middleware.RetryAfterOf(err)
	fmt.Println(ok, after, middleware.IsPermanent(err))

	h.Set("Retry-After", "99999999999999999999999") // capped, never overflows
	wait, _ = middleware.ParseRetryAfter(h, time.Now())
	fmt.Println(wait)
	// Output:
	// true 2m0s false
	// 24h0m0s
}
