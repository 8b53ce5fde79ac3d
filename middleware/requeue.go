package middleware

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Metadata a failing message accumulates on its way through Requeue.
const (
	// MetaAttempts is how many delivery attempts (each with its in-process
	// retries) have failed so far.
	MetaAttempts = "tributary_attempts"
	// MetaFirstFailure and MetaLastFailure are RFC 3339 times.
	MetaFirstFailure = "tributary_first_failure"
	MetaLastFailure  = "tributary_last_failure"
	MetaLastError    = "tributary_last_error"
)

// Attempts returns how many delivery attempts of msg have failed so far.
func Attempts(msg *message.Message) int {
	n, _ := strconv.Atoi(msg.Metadata.Get(MetaAttempts))
	return n
}

// Requeue moves a message whose delivery failed with a transient error onto a
// delayed topic (Topic, read back by the same sink only), and acks it, so that a
// message waiting minutes for its retry never holds back those behind it.
// The wait is Schedule's next delay; a RetryAfter error replaces it, a
// NotBefore error raises it to at least its own. Schedule is the one retry
// schedule of the sink: a sink never keeps one of its own.
// Once Schedule is exhausted it returns an error wrapping ErrExhausted.
type Requeue struct {
	Schedule Schedule
	// Topic is the delayed retry topic of the one sink this middleware wraps.
	Topic string
	// Publisher returns the publisher for the delayed topic. The requeue
	// commits before the message is acked: a crash in between redelivers the
	// message (a duplicate attempt), it never loses it.
	Publisher func(msg *message.Message) (message.Publisher, error)
	// OnRequeue, if set, is called for each requeue.
	OnRequeue func(msg *message.Message, attempt int, wait time.Duration, err error)
}

// Middleware implements message.HandlerMiddleware.
func (q Requeue) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return retryLater(h, q.Schedule, func(msg *message.Message, wait time.Duration, err error) ([]*message.Message, error) {
		next := msg.Copy()
		next.SetContext(msg.Context())
		delay.Message(next, delay.For(wait))
		// delay.Message keeps whole seconds only, cutting every wait by up to 1 s
		// and sub-second waits to nothing; the delayed subscriber casts the value
		// to timestamptz, which takes the fraction.
		next.Metadata.Set(delay.DelayedUntilKey, time.Now().UTC().Add(wait).Format(time.RFC3339Nano))
		pub, perr := q.Publisher(msg)
		if perr == nil {
			perr = pub.Publish(q.Topic, next)
		}
		if perr != nil {
			return nil, fmt.Errorf("requeue: %w (delivery failed with: %w)", perr, err)
		}
		if q.OnRequeue != nil {
			q.OnRequeue(msg, Attempts(msg), wait, err)
		}
		return nil, nil
	})
}

// retryLater runs h; when it fails with a transient error, it stamps the
// failed attempt on msg and calls then with the wait before the next:
// schedule's next delay, replaced by a RetryAfter error's wait or raised to
// a NotBefore error's. Once schedule is exhausted it returns an error
// wrapping ErrExhausted instead.
func retryLater(h message.HandlerFunc, schedule Schedule, then func(msg *message.Message, wait time.Duration, err error) ([]*message.Message, error)) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || IsPermanent(err) {
			return out, err
		}
		attempt := Attempts(msg) + 1
		stamp(msg, attempt, time.Now().UTC(), err)
		wait, ok := schedule.Wait(attempt, err)
		if !ok {
			return nil, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, attempt, err)
		}
		return then(msg, wait, err)
	}
}

// stamp records a failed attempt on msg's metadata.
func stamp(msg *message.Message, attempt int, t time.Time, err error) {
	msg.Metadata.Set(MetaAttempts, strconv.Itoa(attempt))
	if msg.Metadata.Get(MetaFirstFailure) == "" {
		msg.Metadata.Set(MetaFirstFailure, t.Format(time.RFC3339Nano))
	}
	msg.Metadata.Set(MetaLastFailure, t.Format(time.RFC3339Nano))
	e := err.Error()
	if len(e) > 500 {
		e = e[:500]
	}
	msg.Metadata.Set(MetaLastError, e)
}
