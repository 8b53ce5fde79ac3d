package middleware

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Retry retries a failing handler in process, a few times and briefly, for
// blips (a dropped connection, a 503 during a deploy). It holds the message's
// consumer while it waits, so it is kept short; longer waits belong to Requeue.
// Permanent errors and waits longer than MaxInterval are passed on at once.
type Retry struct {
	// MaxRetries is how many times the handler is re-run; 0 disables retries.
	MaxRetries int
	// InitialInterval is the first wait; each next wait is Multiplier times longer, up to MaxInterval.
	InitialInterval time.Duration
	MaxInterval     time.Duration
	Multiplier      float64
	// Jitter spreads each wait by ±Jitter (a fraction).
	Jitter float64
	// OnRetry, if set, is called before each retry.
	OnRetry func(msg *message.Message, retry int, err error)
}

// DefaultRetry is what a pipeline uses unless told otherwise: 3 retries within
// about a second and a half.
func DefaultRetry() Retry {
	return Retry{MaxRetries: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, Jitter: 0.2}
}

// Middleware implements message.HandlerMiddleware.
func (r Retry) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		for retry := 0; ; retry++ {
			out, err := h(msg)
			if err == nil || IsPermanent(err) || retry >= r.MaxRetries {
				return out, err
			}
			next := backoff.Exponential(r.InitialInterval, max(r.Multiplier, 1), retry, max(r.MaxInterval, r.InitialInterval))
			if after, ok := RetryAfterOf(err); ok {
				if after > r.MaxInterval {
					return out, err // the receiver wants a long wait: requeue it
				}
				next = after
			} else {
				next = backoff.Jitter(next, r.Jitter)
			}
			if r.OnRetry != nil {
				r.OnRetry(msg, retry+1, err)
			}
			if backoff.Sleep(msg.Context(), next) != nil {
				return out, err
			}
		}
	}
}
