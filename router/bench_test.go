package router_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// countingSink signals when it has seen want messages.
type countingSink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (s *countingSink) Publish(_ string, msgs ...*message.Message) error {
	if s.n.Add(int64(len(msgs))) == s.want {
		close(s.done)
	}
	return nil
}
func (s *countingSink) Close() error { return nil }

// BenchmarkThroughput measures events/s from a source through the durable
// topic, dedup and a sink ("pipeline"), next to raw watermill-sql publishing
// one message per transaction and a consumer group reading them ("raw"), in
// the same run. Compare the two events/s figures for the framework's cost.
func BenchmarkThroughput(b *testing.B) {
	b.Run("raw-watermill-sql", func(b *testing.B) {
		pool := pgtest.NewPool(b)
		backend := router.Postgres(pool)
		pub, err := backend.Publisher(watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		sub, err := backend.Subscriber("bench", watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		topic := "tributary.raw"
		if err := sub.(message.SubscribeInitializer).SubscribeInitialize(topic); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		go func() {
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("raw-%d", i)
				if err := pub.Publish(topic, tributary.NewEventMessage(id, []byte(`{"id":"`+id+`"}`))); err != nil {
					panic(err)
				}
			}
		}()
		for i := 0; i < b.N; i++ {
			m := <-msgs
			m.Ack()
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})

	// One source hands on one event at a time (each waits for its ack); four
	// sources at once let the ingest path share commits (group commit).
	for _, sources := range []int{1, 4} {
		b.Run(fmt.Sprintf("pipeline/sources=%d", sources), func(b *testing.B) {
			pool := pgtest.NewPool(b)
			sink := &countingSink{want: int64(b.N), done: make(chan struct{})}
			ids := pipelinetest.EventIDs("b", b.N)
			var srcs []router.Source
			for i := 0; i < sources; i++ {
				part := ids[i*len(ids)/sources : (i+1)*len(ids)/sources]
				srcs = append(srcs, router.Source{Name: fmt.Sprintf("src%d", i), Source: pipelinetest.NewEventSource(part...)})
			}
			r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
				Name:    "bench",
				Sources: srcs,
				Sinks:   []router.Sink{{Name: "sink", Publisher: sink}},
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() { done <- r.Run(ctx) }()
			<-sink.done
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
