package amqp

import (
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// topology is what a publisher or subscriber declares when it connects:
// durable, never auto-deleted, as every Tributary instance declares them
// alike (a declaration that differs from the broker's is a channel error).
type topology struct {
	exchange, exchangeType string
	// queue, when set, is declared and, with an exchange, bound to it
	// with key.
	queue, key string
}

// declare declares t on ch.
func (t topology) declare(ch *amqp091.Channel) error {
	if t.exchange != "" {
		if err := ch.ExchangeDeclare(t.exchange, t.exchangeType, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %q: %w", t.exchange, err)
		}
	}
	if t.queue == "" {
		return nil
	}
	if _, err := ch.QueueDeclare(t.queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %q: %w", t.queue, err)
	}
	if t.exchange == "" {
		return nil
	}
	if err := ch.QueueBind(t.queue, t.key, t.exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %q to exchange %q: %w", t.queue, t.exchange, err)
	}
	return nil
}

// dial opens a connection to url and a channel on it, on which it declares
// t; the caller closes the connection.
func dial(url string, t topology) (*amqp091.Connection, *amqp091.Channel, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		err = fmt.Errorf("open channel: %w", err)
	} else {
		err = t.declare(ch)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}
