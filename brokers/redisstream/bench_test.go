package redisstream_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wmredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/brokers/redisstream"
	"github.com/tributary-dev/tributary/internal/brokertest"
)

// BenchmarkSink: the redisstream sink against watermill-redisstream's own
// publisher, both returning once Redis answered the XADD.
func BenchmarkSink(b *testing.B) {
	url := brokertest.Redis(b)
	b.Run("tributary", func(b *testing.B) {
		s, _ := brokertest.RedisStream(b, url)
		sink, err := redisstream.NewSink(redisstream.SinkConfig{Connection: redisstream.Connection{URL: url}, Stream: s}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, sink, "")
	})
	b.Run("watermill", func(b *testing.B) {
		s, c := brokertest.RedisStream(b, url)
		pub, err := wmredis.NewPublisher(wmredis.PublisherConfig{Client: c}, watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, noClose{pub}, s)
	})
}

// BenchmarkSource: the redisstream source against watermill-redisstream's
// own subscriber in a consumer group, reading and acking a filled stream.
func BenchmarkSource(b *testing.B) {
	url := brokertest.Redis(b)
	b.Run("tributary", func(b *testing.B) {
		s, c := brokertest.RedisStream(b, url)
		pub, _ := wmredis.NewPublisher(wmredis.PublisherConfig{Client: c}, watermill.NopLogger{})
		src, err := redisstream.NewSource(redisstream.SourceConfig{Connection: redisstream.Connection{URL: url}, Stream: s}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, noClose{pub}, s, src, "")
	})
	b.Run("watermill", func(b *testing.B) {
		s, c := brokertest.RedisStream(b, url)
		pub, _ := wmredis.NewPublisher(wmredis.PublisherConfig{Client: c}, watermill.NopLogger{})
		opts, _ := redis.ParseURL(url)
		sub, err := wmredis.NewSubscriber(wmredis.SubscriberConfig{Client: redis.NewClient(opts), ConsumerGroup: "bench"}, watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, noClose{pub}, s, sub, s)
	})
}

// noClose keeps the publisher's client open for the cleanup, which deletes
// the stream.
type noClose struct{ *wmredis.Publisher }

func (noClose) Close() error { return nil }
