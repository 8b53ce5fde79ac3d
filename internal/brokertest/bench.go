package brokertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// events returns n events with ids of their own.
func events(prefix string, n int) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		id := fmt.Sprintf("%s-%d", prefix, i)
		m := tributary.NewEventMessage(id, []byte(fmt.Sprintf(`{"id":%q,"type":"bench.event","n":%d}`, id, i)))
		m.Metadata.Set(tributary.MetaEventType, "bench.event")
		out[i] = m
	}
	return out
}

// BenchPublish times publishing b.N events one at a time through pub (each
// Publish returns once the broker confirmed it), as a sink is called.
func BenchPublish(b *testing.B, pub message.Publisher, topic string) {
	b.Helper()
	msgs := events(Name(b, "bench"), b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for _, m := range msgs {
		if err := pub.Publish(topic, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	_ = pub.Close()
}

// BenchConsume puts b.N events on the broker with fill (not timed), then
// times reading and acking them all from sub, one at a time.
func BenchConsume(b *testing.B, fill message.Publisher, fillTopic string, sub message.Subscriber, topic string) {
	b.Helper()
	msgs := events(Name(b, "bench"), b.N)
	for i := 0; i < len(msgs); i += 100 {
		if err := fill.Publish(fillTopic, msgs[i:min(i+100, len(msgs))]...); err != nil {
			b.Fatal(err)
		}
	}
	_ = fill.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		select {
		case m, ok := <-ch:
			if !ok {
				b.Fatal("subscription ended")
			}
			m.Ack()
		case <-ctx.Done():
			b.Fatal("timed out")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cancel()
	_ = sub.Close()
}
