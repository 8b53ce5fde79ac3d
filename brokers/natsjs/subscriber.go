package natsjs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary/brokers"
)

// subscriber is a message.Subscriber on one connection: each Subscribe
// joins the durable consumer's queue group (created by the first instance,
// with manual acks) and hands messages on one at a time; an ack is passed
// to the server, a nack becomes a Nak with the configured delay.
//
// It replaces watermill-nats's subscriber, whose Subscribe closes its output
// channel while a NATS callback may still be sending to it (a data race the
// race detector reports when the server goes away mid-flow). Here the
// server writes into a buffered channel of ours that is never closed, and
// one goroutine moves messages from it to the output channel, which that
// goroutine alone closes.
//
// On Close it closes the connection without unsubscribing: an Unsubscribe
// would delete the durable consumer the library created, and with it the
// position other instances and the next start resume from.
type subscriber struct {
	nc      *nats.Conn
	js      nats.JetStreamContext
	cfg     SourceConfig
	logger  watermill.LoggerAdapter
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newSubscriber(nc *nats.Conn, cfg SourceConfig, logger watermill.LoggerAdapter) (*subscriber, error) {
	js, err := nc.JetStream()
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &subscriber{nc: nc, js: js, cfg: cfg, logger: logger, closing: make(chan struct{})}, nil
}

// Subscribe implements message.Subscriber; topic is the subject.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.closing:
		return nil, errors.New("subscriber closed")
	default:
	}
	in := make(chan *nats.Msg, s.cfg.MaxAckPending)
	_, err := s.js.ChanQueueSubscribe(topic, s.cfg.Durable, in,
		nats.Durable(s.cfg.Durable), nats.ManualAck(), nats.AckExplicit(), nats.AckWait(s.cfg.AckWait),
		nats.DeliverAll(), nats.MaxAckPending(s.cfg.MaxAckPending))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s as %s: %w", topic, s.cfg.Durable, err)
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		for {
			select {
			case m := <-in:
				if !s.handOn(ctx, m, out) {
					return
				}
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
		}
	}()
	return out, nil
}

// handOn hands m on and waits for its ack or nack; it reports false when
// the subscription stops first (m is then left to the server, which
// redelivers it after AckWait).
func (s *subscriber) handOn(ctx context.Context, m *nats.Msg, out chan<- *message.Message) bool {
	msg, err := Marshaler{}.Unmarshal(m)
	if err != nil {
		// Unreachable with this Marshaler; a Nak would loop on it.
		s.logger.Error("Unreadable JetStream message terminated", err, watermill.LogFields{"subject": m.Subject})
		s.settle(m.Term())
		return true
	}
	acked, ok := brokers.HandOn(ctx, s.closing, msg, out)
	switch {
	case !ok:
		return false
	case acked:
		// AckSync: the ack is done only once the server has it, so a
		// stored event is not redelivered for want of an ack in flight.
		s.settle(m.AckSync(nats.AckWait(5 * time.Second)))
	default:
		s.settle(m.NakWithDelay(s.cfg.NakDelay))
	}
	return true
}

// settle logs an ack or nak that did not reach the server: it redelivers
// the message after AckWait, and the router's dedup drops the repeat.
func (s *subscriber) settle(err error) {
	if err != nil {
		s.logger.Info("JetStream ack or nak not sent; the server will redeliver", watermill.LogFields{"error": err.Error()})
	}
}

// Close ends every subscription, waits for them, and closes the
// connection; it is idempotent.
func (s *subscriber) Close() error {
	s.once.Do(func() {
		close(s.closing)
		s.wg.Wait()
		s.nc.Close()
	})
	return nil
}
