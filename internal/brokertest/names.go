package brokertest

import (
	"context"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// AMQPQueue declares a durable queue of tb's own on the RabbitMQ at url
// (as the amqp sink and source declare theirs) and deletes it, and an
// exchange of the same name, when tb ends.
func AMQPQueue(tb testing.TB, url string) string {
	tb.Helper()
	q := Name(tb, "tributary")
	if _, err := AMQPChannel(tb, url).QueueDeclare(q, true, false, false, false, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := amqp091.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(q, false, false, false)
			_ = ch.ExchangeDelete(q, false, false)
		}
	})
	return q
}

// AMQPChannel opens a channel on a connection of its own to the RabbitMQ at
// url; the connection is closed when tb ends.
func AMQPChannel(tb testing.TB, url string) *amqp091.Channel {
	tb.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

// RedisStream returns a stream name of tb's own and a client of the Redis
// at url; the stream is deleted and the client closed when tb ends.
func RedisStream(tb testing.TB, url string) (string, *redis.Client) {
	tb.Helper()
	s := Name(tb, "tributary")
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() {
		_ = c.Del(context.Background(), s).Err()
		_ = c.Close()
	})
	return s, c
}
