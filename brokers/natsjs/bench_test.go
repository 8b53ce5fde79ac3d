package natsjs_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary/brokers/natsjs"
	"github.com/tributary-dev/tributary/internal/brokertest"
	"github.com/tributary-dev/tributary/internal/natstest"
)

// conn returns a subject and stream of b's own on a private server.
func conn(b *testing.B, srv *natstest.Server) natsjs.Connection {
	name := "BENCH_" + brokertest.Name(b, "s")
	for _, c := range ".-/ " {
		name = replaceAll(name, c)
	}
	return natsjs.Connection{URL: srv.URL, Subject: "bench." + name, Stream: name}
}

func replaceAll(s string, r rune) string {
	out := []rune(s)
	for i := range out {
		if out[i] == r {
			out[i] = '_'
		}
	}
	return string(out)
}

// wmPublisher is watermill-nats's own JetStream publisher, publishing
// synchronously (each waits for its PubAck), on the stream the sink makes.
func wmPublisher(b *testing.B, c natsjs.Connection) *wmnats.Publisher {
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{URL: c.URL, Marshaler: &wmnats.NATSMarshaler{},
		JetStream: wmnats.JetStreamConfig{TrackMsgId: true}}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	return pub
}

// ensure creates c's stream the way the sink does.
func ensure(b *testing.B, c natsjs.Connection) {
	nc, err := nats.Connect(c.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	if _, err := js.AddStream(&nats.StreamConfig{Name: c.Stream, Subjects: []string{c.Subject}, Storage: nats.FileStorage}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSink: the natsjs sink against watermill-nats's own JetStream
// publisher, both waiting for each message's PubAck.
func BenchmarkSink(b *testing.B) {
	srv := natstest.Start(b)
	b.Run("tributary", func(b *testing.B) {
		sink, err := natsjs.NewSink(natsjs.SinkConfig{Connection: conn(b, srv)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, sink, "")
	})
	b.Run("watermill", func(b *testing.B) {
		c := conn(b, srv)
		ensure(b, c)
		brokertest.BenchPublish(b, wmPublisher(b, c), c.Subject)
	})
}

// BenchmarkSource: the natsjs source against watermill-nats's own
// JetStream subscriber with a durable consumer, reading and acking (AckSync)
// a filled stream.
func BenchmarkSource(b *testing.B) {
	srv := natstest.Start(b)
	b.Run("tributary", func(b *testing.B) {
		c := conn(b, srv)
		ensure(b, c)
		src, err := natsjs.NewSource(natsjs.SourceConfig{Connection: c, Durable: "bench"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, wmPublisher(b, c), c.Subject, src, "")
	})
	b.Run("watermill", func(b *testing.B) {
		c := conn(b, srv)
		ensure(b, c)
		sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{URL: c.URL, QueueGroupPrefix: "bench",
			JetStream: wmnats.JetStreamConfig{DurablePrefix: "bench",
				SubscribeOptions: []nats.SubOpt{nats.ManualAck(), nats.AckExplicit(), nats.DeliverAll()}}}, watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		brokertest.BenchConsume(b, wmPublisher(b, c), c.Subject, sub, c.Subject)
	})
}
