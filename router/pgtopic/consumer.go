package pgtopic

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// consumer is what Subscriber and QueueSubscriber share: the lease that
// keeps their claims alive, and Subscribe/Close around a consume loop per
// subscription.
type consumer struct {
	db     DB
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter
	lease  *lease

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
	c.lease = startLease(db, cfg.Owner, cfg.ClaimTTL, logger)
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
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(out)
		consume(ctx, topic, out)
	}()
	return out, nil
}

// Close implements message.Subscriber. It stops claiming, waits up to
// DrainTimeout for handed-out messages to be acked, hands back what is not,
// and returns once every subscription's channel is closed.
func (c *consumer) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.wg.Wait()
	c.lease.stop()
	return nil
}
