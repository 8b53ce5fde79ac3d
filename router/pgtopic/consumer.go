package pgtopic

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// consumer is what the Subscribers (topic, queue, lanes) share: the lease that
// keeps their claims alive, and Subscribe/Close around a consume loop per
// subscription.
type consumer struct {
	db        DB
	cfg       SubscriberConfig
	logger    watermill.LoggerAdapter
	stopLease func() // startLease's

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newConsumer(db DB, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	c := &consumer{db: db, cfg: cfg, logger: logger, closing: make(chan struct{})}
	c.stopLease = startLease(db, cfg.Owner, cfg.ClaimTTL, logger)
	return c, nil
}

// subscribe runs consume for topic until Close or ctx ends; the channel
// closes after it returns.
func (c *consumer) subscribe(ctx context.Context, topic string,
	consume func(ctx context.Context, topic string, out chan<- *message.Message)) (<-chan *message.Message, error) {
	select {
	case <-c.closing:
		return nil, errors.New("pgtopic: subscriber is closed")
	default:
	}
	if topic == "" {
		return nil, errors.New("pgtopic: empty topic")
	}
	out := make(chan *message.Message)
	c.wg.Go(func() {
		defer close(out)
		consume(ctx, topic, out)
	})
	return out, nil
}

// Close implements message.Subscriber. It stops claiming, waits up to
// DrainTimeout for handed-out messages to be acked, hands back what is not,
// and returns once every subscription's channel is closed.
func (c *consumer) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.wg.Wait()
	c.stopLease()
	return nil
}

// listen returns the wake-ups for name (a topic) from the Notifier, or a
// channel that never fires without one; stop ends them.
func (c *consumer) listen(name string) (wake <-chan struct{}, stop func()) {
	if c.cfg.Notifier == nil {
		return nil, func() {}
	}
	return c.cfg.Notifier.listen(name)
}

// failed logs err (unless ctx ended, which explains it) and backs off;
// false when the subscription must stop instead.
func (c *consumer) failed(ctx context.Context, retry *retryWait, what string, err error, fields watermill.LogFields) bool {
	if ctx.Err() == nil {
		c.logger.Error(what+" failed; retrying", err, fields)
	}
	return retry.wait(ctx, c.closing, nil)
}

// stopping says whether the subscription must stop: Close was called or
// ctx ended.
func (c *consumer) stopping(ctx context.Context) bool {
	select {
	case <-c.closing:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
