package amqp_test

import (
	"testing"

	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/internal/brokertest"
)

// BenchmarkSink: the amqp sink on a durable queue, each Publish waiting for
// the broker's confirm of its message. (The package no longer uses
// watermill-amqp, so its publisher is no longer run alongside; see
// docs/benchmarks.md for the figures of both.)
func BenchmarkSink(b *testing.B) {
	url := brokertest.RabbitMQ(b)
	b.Run("tributary", func(b *testing.B) {
		brokertest.BenchPublish(b, sink(b, url, brokertest.AMQPQueue(b, url)), "")
	})
}

// BenchmarkSource: the amqp source reading and acking a filled durable
// queue (filled through the sink).
func BenchmarkSource(b *testing.B) {
	url := brokertest.RabbitMQ(b)
	b.Run("tributary", func(b *testing.B) {
		q := brokertest.AMQPQueue(b, url)
		src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: q}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, sink(b, url, q), "", src, "")
	})
}

func sink(b *testing.B, url, queue string) *brokers.Sink {
	s, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: queue}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
