package benchtable_test

import (
	"context"
	"fmt"
	"github.com/tributary-dev/tributary"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// benchBackend builds one backend for a run, and counts what its topic
// has stored.
type benchBackend struct {
	name string
	new  func(b *testing.B) (router.Backend, func(pipeline string) int)
}

var benchBackends = []benchBackend{
	{"Postgres", func(b *testing.B) (router.Backend, func(string) int) {
		pool := pgtest.NewPool(b)
		return router.Postgres(pool), func(p string) int {
			var n int
			_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_messages WHERE topic = $1`, router.Topic(p)).Scan(&n)
			return n
		}
	}},
	{"JetStream", func(b *testing.B) (router.Backend, func(string) int) {
		pool := pgtest.NewPool(b)
		srv := natstest.Start(b)
		nc, err := nats.Connect(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		return router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool}), func(p string) int {
			s, err := js.Stream(context.Background(), jstopic.StreamName(router.Topic(p)))
			if err != nil {
				return 0
			}
			info, err := s.Info(context.Background())
			if err != nil {
				return 0
			}
			return int(info.State.LastSeq)
		}
	}},
}

// gatedSink holds every delivery until open is closed.
type gatedSink struct {
	open chan struct{}
	next message.Publisher
}

func (g gatedSink) Publish(topic string, msgs ...*message.Message) error {
	<-g.open
	return g.next.Publish(topic, msgs...)
}
func (g gatedSink) Close() error { return g.next.Close() }

// runOn runs 4 sources (16 in flight each, or paced) → backend → a signed
// webhook sink (16 at once). With gated, deliveries wait until the topic
// holds every event: fill is ingest alone, drain is delivery alone.
func runOn(b *testing.B, bb benchBackend, n int, every time.Duration, gated bool) (fill, drain, total time.Duration, recv *receiver) {
	backend, stored := bb.new(b)
	recv = newReceiver(n)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	var sink message.Publisher = newWebhook(b, srv.URL, (*pgxpool.Pool)(nil))
	gate := gatedSink{open: make(chan struct{}), next: sink}
	if gated {
		sink = gate
	}
	var srcs []router.Source
	sources := 4
	if every > 0 {
		sources = 1
	}
	for i := range sources {
		srcs = append(srcs, router.Source{Name: fmt.Sprintf("s%d", i),
			Source: tributary.FromSubscriber(newBurstSource(fmt.Sprintf("s%d", i), n/sources, 16, every), "")})
	}
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name: "bench", Sources: srcs,
		Sinks: []router.Sink{{Name: "hook", Publisher: sink, Concurrency: 16}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.After(10 * time.Minute)
	if gated {
		for stored("bench") < n {
			select {
			case <-deadline:
				b.Fatal("ingest did not finish in 10 minutes")
			case <-time.After(10 * time.Millisecond):
			}
		}
		fill = time.Since(start)
		close(gate.open)
	}
	select {
	case <-recv.done:
	case <-deadline:
		b.Fatal("pipeline did not deliver everything in 10 minutes")
	}
	total = time.Since(start)
	return fill, total - fill, total, recv
}

// BenchmarkBackends measures Postgres and JetStream topics in the same run:
// ingest alone (deliveries held until every event is stored), delivery
// alone (the stored backlog to the webhook receiver), end to end, and the
// latency of events handed on at a steady rate. BENCH_BACKEND_EVENTS events
// per row (10,000 by default).
func BenchmarkBackends(b *testing.B) {
	n := envInt("BENCH_BACKEND_EVENTS", 10000)
	rate := envInt("BENCH_BACKEND_RATE", 500)
	var sb strings.Builder
	sb.WriteString("| backend | ingest | delivery | end to end | latency p50 / p99 at " + fmt.Sprint(rate) + "/s |\n|---|---|---|---|---|\n")
	for _, bb := range benchBackends {
		fill, drain, _, _ := runOn(b, bb, n, 0, true)
		_, _, e2e, _ := runOn(b, bb, n, 0, false)
		_, _, _, paced := runOn(b, bb, rate*5, time.Second/time.Duration(rate), false)
		p50, _, p99 := paced.percentiles()
		line := fmt.Sprintf("| %s | %.0f events/s | %.0f events/s | %.0f events/s | %s / %s |", bb.name,
			float64(n)/fill.Seconds(), float64(n)/drain.Seconds(), float64(n)/e2e.Seconds(),
			p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond))
		b.Log(line)
		sb.WriteString(line + "\n")
	}
	fmt.Println(sb.String())
}
