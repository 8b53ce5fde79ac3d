package client

import (
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Backoff spaces reconnect attempts: Initial·2^(n-1) capped at Max, each
// spread by ±Jitter so that many clients do not reconnect in lockstep after
// a server restart.
type Backoff struct {
	Initial time.Duration // 500 ms when zero
	Max     time.Duration // 30 s when zero
	Jitter  float64       // 0.2 when zero; negative for none
}

func (b *Backoff) setDefaults() {
	if b.Initial == 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max == 0 {
		b.Max = 30 * time.Second
	}
	if b.Jitter == 0 {
		b.Jitter = 0.2
	}
	if b.Jitter < 0 {
		b.Jitter = 0
	}
}

// Delay is the wait before attempt n (1-based).
func (b Backoff) Delay(n int) time.Duration {
	return backoff.Jitter(backoff.Exponential(b.Initial, 2, n-1, b.Max), b.Jitter)
}
