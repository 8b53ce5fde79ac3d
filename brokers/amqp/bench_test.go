package amqp_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/internal/brokertest"
)

// queue returns a durable queue of b's own, deleted when b ends.
func queue(b *testing.B, url string) string {
	q := brokertest.Name(b, "bench")
	conn, err := amqp091.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	// Declared before watermill-amqp's publisher, which declares no queue
	// (into none, a message is dropped and confirmed at once).
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if conn, err := amqp091.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(q, false, false, false)
			}
			_ = conn.Close()
		}
	})
	return q
}

// watermill is watermill-amqp's durable queue config with publisher
// confirms: the same guarantee as the sink's.
func wmConfig(url string) wamqp.Config {
	c := wamqp.NewDurableQueueConfig(url)
	c.Publish.ConfirmDelivery = true
	return c
}

// BenchmarkSink: the amqp sink against watermill-amqp's own publisher, both
// waiting for the broker's confirm of each message.
func BenchmarkSink(b *testing.B) {
	url := brokertest.RabbitMQ(b)
	b.Run("tributary", func(b *testing.B) {
		sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: queue(b, url)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, sink, "")
	})
	b.Run("watermill", func(b *testing.B) {
		q := queue(b, url)
		pub, err := wamqp.NewPublisher(wmConfig(url), watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, pub, q)
	})
}

// BenchmarkSource: the amqp source against watermill-amqp's own subscriber,
// reading and acking a filled durable queue.
func BenchmarkSource(b *testing.B) {
	url := brokertest.RabbitMQ(b)
	fill := func(b *testing.B) *wamqp.Publisher {
		pub, err := wamqp.NewPublisher(wmConfig(url), watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		return pub
	}
	b.Run("tributary", func(b *testing.B) {
		q := queue(b, url)
		src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: q}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, fill(b), q, src, "")
	})
	b.Run("watermill", func(b *testing.B) {
		q := queue(b, url)
		sub, err := wamqp.NewSubscriber(wmConfig(url), watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, fill(b), q, sub, q)
	})
}
