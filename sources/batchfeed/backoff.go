package batchfeed

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Delay is the wait before retry number attempt (0-based):
// Initial·Multiplier^attempt capped at Max, spread by ±Jitter.
func (b Backoff) Delay(attempt int) time.Duration {
	return backoff.Jitter(backoff.Exponential(b.Initial, b.Multiplier, attempt, b.Max), b.Jitter)
}

// jitter spreads d uniformly by ±frac, so that many sources restarted
// together do not poll in lockstep.
func jitter(d time.Duration, frac float64) time.Duration { return backoff.Jitter(d, frac) }

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool { return backoff.Sleep(ctx, d) == nil }
