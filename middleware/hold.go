package middleware

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Hold is Requeue for an ordered sink (one with an order key): instead of
// moving a failed message onto a delayed topic and acking it, it stamps the
// failure on the message, sets the time of the next attempt in its
// delay.DelayedUntilKey metadata (Schedule's next delay, or what a
// RetryAfter or NotBefore error asks) and returns the error, so the message
// is nacked: the ordered subscriber (pgtopic.LaneSubscriber) keeps it, and
// every later message of its key, back until then. Other keys go on. Once
// Schedule is exhausted it returns an error wrapping ErrExhausted (Poison
// stores the message and acks it, and its key moves on).
type Hold struct {
	Schedule Schedule
	// OnHold, if set, is called for each failure held back.
	OnHold func(msg *message.Message, attempt int, wait time.Duration, err error)
}

// Middleware implements message.HandlerMiddleware.
func (h Hold) Middleware(next message.HandlerFunc) message.HandlerFunc {
	return retryLater(next, h.Schedule, func(msg *message.Message, wait time.Duration, err error) ([]*message.Message, error) {
		msg.Metadata.Set(delay.DelayedUntilKey, time.Now().UTC().Add(wait).Format(time.RFC3339Nano))
		if h.OnHold != nil {
			h.OnHold(msg, Attempts(msg), wait, err)
		}
		return nil, fmt.Errorf("held back for %s: %w", wait, err)
	})
}
