package amqp_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"

	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/internal/brokertest"
)

// wmConfig is watermill-amqp's durable queue config with publisher
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
		sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: brokertest.AMQPQueue(b, url)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, sink, "")
	})
	b.Run("watermill", func(b *testing.B) {
		q := brokertest.AMQPQueue(b, url)
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
		q := brokertest.AMQPQueue(b, url)
		src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: q}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, fill(b), q, src, "")
	})
	b.Run("watermill", func(b *testing.B) {
		q := brokertest.AMQPQueue(b, url)
		sub, err := wamqp.NewSubscriber(wmConfig(url), watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, fill(b), q, sub, q)
	})
}
