package amqp

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// publisher is a message.Publisher on one connection and one confirm-mode
// channel. Publish returns once the broker acked every message; a nack, a
// lost connection or the message's context ending first is an error.
// Concurrent Publish calls share the channel, each waiting for its own
// confirm, so N calls have N confirms in flight.
//
// It does not reconnect: once its connection is gone every Publish fails,
// and the brokers.Sink wrapping it drops it and connects a new one.
type publisher struct {
	conn     *amqp091.Connection
	ch       *amqp091.Channel
	exchange string
}

// newPublisher connects to url, puts a channel in confirm mode and declares
// t on it; messages go to t.exchange ("" for the default exchange).
func newPublisher(url string, t topology) (*publisher, error) {
	conn, ch, err := dial(url, t)
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	return &publisher{conn: conn, ch: ch, exchange: t.exchange}, nil
}

// Publish implements message.Publisher: topic is the routing key. Each
// message is published persistent and waited for, within its context.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if err := p.publish(m.Context(), topic, m); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) publish(ctx context.Context, key string, m *message.Message) error {
	pub, err := Marshaler{}.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	confirm, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, key, false, false, pub)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	acked, err := confirm.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("wait for the broker's confirm: %w", err)
	case acked:
		return nil
	case p.ch.IsClosed():
		// amqp091 nacks what is pending when the channel closes.
		return errors.New("channel closed before the broker confirmed the message")
	default:
		return errors.New("the broker nacked the message")
	}
}

// Close closes the connection (and so the channel); closing it again is
// no error.
func (p *publisher) Close() error { return closeConn(p.conn) }
