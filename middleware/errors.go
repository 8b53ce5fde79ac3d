package middleware

import (
	"errors"
	"time"
)

// ErrExhausted marks a message whose retry schedule has run out.
var ErrExhausted = errors.New("retry schedule exhausted")

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a 4xx, a malformed event): the
// message goes to the poison queue at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent
// or is ErrExhausted.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, ErrExhausted)
}

type retryAfterError struct {
	err   error
	after time.Duration
	// atLeast: the wait is a floor under the schedule's, not a replacement.
	atLeast bool
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as transient with a wait the receiver asked for (an
// HTTP Retry-After). That wait wins over the retry schedule's.
func RetryAfter(err error, after time.Duration) error { return retryAfter(err, after, false) }

// NotBefore marks err as transient with a wait that is a floor: Requeue
// waits the longer of it and the retry schedule's next delay. A sink uses it
// for a wait of its own making (an open circuit breaker's cooldown), so that
// the schedule, which only the router knows, still sets the rhythm.
func NotBefore(err error, after time.Duration) error { return retryAfter(err, after, true) }

func retryAfter(err error, after time.Duration, atLeast bool) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err: err, after: after, atLeast: atLeast}
}

// RetryAfterOf returns the wait carried by err, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}
