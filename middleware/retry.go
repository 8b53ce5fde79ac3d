package middleware

import (
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/backoff"
)

// Retry retries a failing handler in process, a few times and briefly, for
// blips (a dropped connection, a 503 during a deploy). It holds the message's
// consumer while it waits, so it is kept short; longer waits belong to Requeue.
// Permanent errors and waits longer than MaxInterval are passed on at once.
//
// A pipeline file's `in_process:` block decodes into it, starting from
// DefaultRetry: the keys it leaves out keep their defaults.
type Retry struct {
	// MaxRetries is how many times the handler is re-run; 0 disables retries.
	MaxRetries int `yaml:"max_retries"`
	// InitialInterval is the first wait; each next wait is Multiplier times longer, up to MaxInterval.
	InitialInterval time.Duration `yaml:"initial_interval"`
	MaxInterval     time.Duration `yaml:"max_interval"`
	// Multiplier is at least 1; 0 counts as 1.
	Multiplier float64 `yaml:"multiplier"`
	// Jitter spreads each wait by ±Jitter (a fraction).
	Jitter float64 `yaml:"jitter"`
	// OnRetry, if set, is called before each retry.
	OnRetry func(msg *message.Message, retry int, err error) `yaml:"-"`
}

// DefaultRetry is what a pipeline uses unless told otherwise: 3 retries within
// about a second and a half.
func DefaultRetry() Retry {
	return Retry{MaxRetries: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Multiplier: 2, Jitter: 0.2}
}

// UnmarshalYAML decodes onto DefaultRetry, so that a file sets only what it
// changes (goccy/go-yaml's InterfaceUnmarshaler).
func (r *Retry) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Retry // without this method
	p := plain(DefaultRetry())
	if err := unmarshal(&p); err != nil {
		return err
	}
	*r = Retry(p)
	return nil
}

// Validate reports every problem with r, each a *tributary.OptionError
// named by its key in a pipeline file.
func (r Retry) Validate() error {
	var errs []error
	if r.MaxRetries < 0 {
		errs = append(errs, tributary.Option("max_retries", "must not be negative"))
	}
	if r.InitialInterval < 0 || r.MaxInterval < r.InitialInterval {
		errs = append(errs, tributary.Option("initial_interval", "want 0 < initial_interval ≤ max_interval (defaults %s and %s)",
			DefaultRetry().InitialInterval, DefaultRetry().MaxInterval))
	}
	if r.Multiplier != 0 && r.Multiplier < 1 {
		errs = append(errs, tributary.Option("multiplier", "must be at least 1"))
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		errs = append(errs, tributary.Option("jitter", "want a fraction between 0 and 1"))
	}
	return errors.Join(errs...)
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
