package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary/brokers"
)

// subscriber is a message.Subscriber on one connection. Each Subscribe
// opens a channel with the prefetch as its QoS, declares the topology
// there and consumes the queue with manual acks: a message is handed on
// one at a time, acked to the broker when it is acked, nacked with requeue
// when it is nacked.
//
// It does not reconnect: when the connection or channel is lost the
// subscription's channel is closed (the broker requeues what was unacked),
// and the brokers.Source wrapping it closes it and subscribes afresh. A
// subscription also ends when its context ends or the subscriber is
// closed; a message handed on and not yet acked is then left to the broker,
// which redelivers it.
type subscriber struct {
	conn     *amqp091.Connection
	topology topology
	prefetch int
	logger   watermill.LoggerAdapter

	closing  chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	closeErr error
}

// newSubscriber connects to url; Subscribe declares t and consumes t.queue.
func newSubscriber(url string, t topology, prefetch int, logger watermill.LoggerAdapter) (*subscriber, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return &subscriber{conn: conn, topology: t, prefetch: prefetch, logger: logger, closing: make(chan struct{})}, nil
}

// Subscribe implements message.Subscriber; topic is the queue.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.closing:
		return nil, errors.New("subscriber closed")
	default:
	}
	t := s.topology
	t.queue = topic
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	deliveries, err := s.consume(ch, t)
	if err != nil {
		_ = ch.Close()
		return nil, err
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer func() { _ = ch.Close() }()
		s.forward(ctx, deliveries, out)
	}()
	return out, nil
}

func (s *subscriber) consume(ch *amqp091.Channel, t topology) (<-chan amqp091.Delivery, error) {
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("set prefetch: %w", err)
	}
	if err := t.declare(ch); err != nil {
		return nil, err
	}
	deliveries, err := ch.Consume(t.queue, "", false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume queue %q: %w", t.queue, err)
	}
	return deliveries, nil
}

// forward hands each delivery on and passes its ack or nack to the broker,
// until deliveries end (the channel or connection is gone), ctx ends or the
// subscriber closes.
func (s *subscriber) forward(ctx context.Context, deliveries <-chan amqp091.Delivery, out chan<- *message.Message) {
	for {
		var d amqp091.Delivery
		select {
		case next, ok := <-deliveries:
			if !ok {
				return
			}
			d = next
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
		if !s.handOn(ctx, d, out) {
			return
		}
	}
}

// handOn hands d on and waits for its ack or nack; it reports false when
// the subscription stops first (d is then left unacked).
func (s *subscriber) handOn(ctx context.Context, d amqp091.Delivery, out chan<- *message.Message) bool {
	msg, err := Marshaler{}.Unmarshal(d)
	if err != nil {
		// Unreachable with this Marshaler; requeueing would loop on it.
		s.logger.Error("Unreadable AMQP message rejected", err, watermill.LogFields{"message_id": d.MessageId})
		s.settle(d.Reject(false))
		return true
	}
	acked, ok := brokers.HandOn(ctx, s.closing, msg, out)
	switch {
	case !ok:
		return false
	case acked:
		s.settle(d.Ack(false))
	default:
		s.settle(d.Nack(false, true))
	}
	return true
}

// settle logs an ack, nack or reject that could not be sent: the channel
// is gone, and the broker requeues the message.
func (s *subscriber) settle(err error) {
	if err != nil {
		s.logger.Info("AMQP ack or nack not sent; the broker will redeliver", watermill.LogFields{"error": err.Error()})
	}
}

// Close ends every subscription, waits for them, and closes the
// connection; it is idempotent.
func (s *subscriber) Close() error {
	s.once.Do(func() {
		close(s.closing)
		s.wg.Wait()
		if err := s.conn.Close(); err != nil && !errors.Is(err, amqp091.ErrClosed) {
			s.closeErr = err
		}
	})
	return s.closeErr
}
