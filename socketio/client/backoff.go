package client

import (
	"cmp"
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Backoff spaces reconnect attempts: Initial·2^(n-1) capped at Max, each
// spread by ±Jitter so that many clients do not reconnect in lockstep after
// a server restart.
type Backoff struct {
	Initial time.Duration `yaml:"initial"` // 500 ms when zero
	Max     time.Duration `yaml:"max"`     // 30 s when zero
	Jitter  float64       `yaml:"jitter"`  // 0.2 when zero; negative for none
}

func (b *Backoff) setDefaults() {
	b.Initial = cmp.Or(b.Initial, 500*time.Millisecond)
	b.Max = cmp.Or(b.Max, 30*time.Second)
	b.Jitter = max(cmp.Or(b.Jitter, 0.2), 0)
}

// Delay is the wait before attempt n (1-based).
func (b Backoff) Delay(n int) time.Duration {
	return backoff.Jitter(backoff.Exponential(b.Initial, 2, n-1, b.Max), b.Jitter)
}
