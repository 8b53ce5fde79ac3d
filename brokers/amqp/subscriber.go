package amqp

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary/brokers"
)

// subscriber is a message.Subscriber on one connection. Each Subscribe
// opens a channel with the prefetch as its QoS, declares the topology
// there and consumes the queue with manual acks (brokers.Forward); a nack
// requeues. It does not reconnect: when the connection or channel is lost
// the subscription ends (the broker requeues what was unacked), and the
// brokers.Source wrapping it closes it and subscribes afresh.
type subscriber struct {
	*brokers.Subscriptions
	conn     *amqp091.Connection
	topology topology
	prefetch int
}

// newSubscriber connects to url; Subscribe declares t and consumes t.queue.
func newSubscriber(url string, t topology, prefetch int, logger watermill.LoggerAdapter) (*subscriber, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	subs := brokers.NewSubscriptions("AMQP", logger, func() error { return closeConn(conn) })
	return &subscriber{Subscriptions: subs, conn: conn, topology: t, prefetch: prefetch}, nil
}

// closeConn closes conn; one already closed (the broker went away) is no
// error.
func closeConn(conn *amqp091.Connection) error {
	if err := conn.Close(); !errors.Is(err, amqp091.ErrClosed) {
		return err
	}
	return nil
}

// settle acks a delivery, or nacks it with requeue.
func settle(d amqp091.Delivery, acked bool) error {
	if acked {
		return d.Ack(false)
	}
	return d.Nack(false, true)
}

// Subscribe implements message.Subscriber; topic is the queue.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.Closed(); err != nil {
		return nil, err
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
	unmarshal := func(d amqp091.Delivery) *message.Message {
		msg, _ := Marshaler{}.Unmarshal(d) // never fails
		return msg
	}
	return brokers.Forward(s.Subscriptions, ctx, deliveries, unmarshal, settle, func() { _ = ch.Close() }), nil
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
