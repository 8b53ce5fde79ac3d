// Package backoff holds the arithmetic that every retry, reconnect and poll
// wait shares (sources, the router's ingest, middleware.Retry and
// middleware.Schedule): exponential growth with a cap, jitter, and a sleep
// that ends with its context. Each user keeps its own configuration type,
// defaults and attempt numbering.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Exponential is base·factor^steps capped at max (steps < 0 counts as 0).
// It never overflows: a product beyond max, infinite or NaN gives max.
func Exponential(base time.Duration, factor float64, steps int, max time.Duration) time.Duration {
	steps = int(math.Max(float64(steps), 0))
	d := float64(base) * math.Pow(factor, float64(steps))
	if d > float64(max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return max
	}
	return time.Duration(d)
}

// Jitter spreads d uniformly by ±frac, so that many clients restarted
// together do not retry in lockstep. frac ≤ 0 or d ≤ 0 leaves d as it is.
func Jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + frac*(2*rand.Float64()-1)))
}

// JitterUp lengthens d by a uniform fraction in [0, frac): jitter for a wait
// that must never be shorter than asked (a server's minimum poll interval).
// frac ≤ 0 or d ≤ 0 leaves d as it is.
func JitterUp(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration(rand.Float64()*frac*float64(d))
}

// Sleep waits d or until ctx ends; it returns ctx.Err() in the latter case
// (also for d ≤ 0 on an ended ctx), nil once d has passed.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
