package webhook

import (
	"errors"
	"sync"
	"time"
)

// ErrCircuitOpen is returned, without a request, while an endpoint's breaker is open.
var ErrCircuitOpen = errors.New("webhook: circuit open, endpoint failing")

type breakerState int

const (
	stateClosed breakerState = iota
	stateOpen
	stateHalfOpen
)

// breaker is a consecutive-failure circuit breaker. Open, it fails fast so a
// dead endpoint costs its messages no timeouts; after cooldown it lets a single
// probe through and closes on the probe's success.
type breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu        sync.Mutex
	state     breakerState
	failures  int
	openUntil time.Time
}

// allow reports whether a request may go; if not, how long until it might.
// An allowed caller must call done exactly once.
func (b *breaker) allow() (bool, time.Duration) {
	if b.cfg.Disabled {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case stateOpen:
		now := b.now()
		if now.Before(b.openUntil) {
			return false, b.openUntil.Sub(now)
		}
		b.state = stateHalfOpen // this caller is the probe
		return true, 0
	case stateHalfOpen:
		return false, b.cfg.Cooldown // a probe is out; wait for its verdict
	}
	return true, 0
}

// done records an allowed request's result: failed is true for transient
// failures (connection errors, timeouts, 5xx, 408, 429, 3xx).
func (b *breaker) done(failed bool) {
	if b.cfg.Disabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !failed {
		b.state, b.failures = stateClosed, 0
		return
	}
	b.failures++
	if b.state == stateHalfOpen || b.failures >= b.cfg.Failures {
		b.state = stateOpen
		b.openUntil = b.now().Add(b.cfg.Cooldown)
	}
}

// open reports whether the breaker is not closed.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != stateClosed
}
