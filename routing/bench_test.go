package routing_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/routing"
)

// benchRoute is one way of routing a sink, as the benchmarks compare them.
type benchRoute struct {
	name      string
	filter    func(*message.Message) (bool, error)
	transform func(*message.Message) (*message.Message, error)
}

func benchRoutes(b *testing.B) []benchRoute {
	types, err := routing.NewFilter(routing.FilterSpec{Types: []string{"door.*", "!door.input.*"}})
	if err != nil {
		b.Fatal(err)
	}
	pred, err := routing.NewFilter(routing.FilterSpec{Expr: `payload.body.doorId == 1 && payload.body.person.enabled`})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := routing.NewTransform(routing.TransformSpec{
		Body:    `{"door": payload.body.door.name, "who": payload.body.person.firstName + " " + payload.body.person.lastName, "at": payload.occurred}`,
		Headers: map[string]string{"X-Door-Id": "payload.body.doorId"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return []benchRoute{
		{name: "none"},
		{name: "type-pattern", filter: types.Match},
		{name: "payload-predicate", filter: pred.Match},
		{name: "reshaping-transform", transform: tr.Apply},
	}
}

// benchEvent is the Socket.IO seed's door.request.allowed event (604 bytes).
func benchEvent(b *testing.B, id string) *message.Message {
	data, err := os.ReadFile(filepath.Join("testdata", "events", "socketio.json"))
	if err != nil {
		b.Fatal(err)
	}
	msg := tributary.NewEventMessage(id, data)
	msg.Metadata.Set(tributary.MetaEventType, "door.request.allowed")
	msg.Metadata.Set(tributary.MetaSource, "panel")
	return msg
}

// BenchmarkRouteCost is the cost per event of a filter or transform alone,
// beside "none": the message copy the router makes for every delivery anyway.
func BenchmarkRouteCost(b *testing.B) {
	msg := benchEvent(b, "e1")
	for _, r := range benchRoutes(b) {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			defer func() {
				// CPU time is less disturbed than ns/op by a shared machine.
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			}()
			for b.Loop() {
				out := msg.Copy()
				if r.filter != nil {
					if ok, err := r.filter(out); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
				if r.transform != nil {
					if _, err := r.transform(out); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// countSink signals when it has seen want messages.
type countSink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (s *countSink) Publish(_ string, msgs ...*message.Message) error {
	if s.n.Add(int64(len(msgs))) == s.want {
		close(s.done)
	}
	return nil
}
func (s *countSink) Close() error { return nil }

// BenchmarkRoutingThroughput runs the same pipeline (four sources, the
// durable Postgres topic, one sink) with each kind of routing on the sink;
// every filter lets every event through, so the sink does the same work.
// One op is one event end to end (ns/op sums every variant's runs: read the
// events/s). Each variant runs `rounds` times, interleaved in a rotating
// order, and its best events/s counts (the machine is shared; the best
// run is the least disturbed); "<variant>/none" is the ratio to the
// unrouted pipeline in the same run.
func BenchmarkRoutingThroughput(b *testing.B) {
	const rounds = 3
	pool := pgtest.NewPool(b)
	routes := benchRoutes(b)
	best := make([]float64, len(routes))
	cpu := make([]float64, len(routes)) // least process CPU µs per event
	run := 0
	for round := 0; round < rounds; round++ {
		for k := range routes {
			// Each round starts with another variant, so none is always first.
			i := (k + round) % len(routes)
			r := routes[i]
			run++
			eps, us := runPipeline(b, pool, fmt.Sprintf("bench%d", run), r, b.N)
			best[i] = max(best[i], eps)
			if cpu[i] == 0 || us < cpu[i] {
				cpu[i] = us
			}
		}
	}
	for i, r := range routes {
		b.ReportMetric(best[i], r.name+"-events/s")
		b.ReportMetric(cpu[i], r.name+"-cpu-µs/event")
		if i > 0 {
			b.ReportMetric(best[i]/best[0], r.name+"/none")
			b.ReportMetric(cpu[i]/cpu[0], r.name+"/none-cpu")
		}
	}
}

// runPipeline returns the events/s of one run and the CPU this process
// (router and sink; Postgres is another process) spent per event, which the
// other tenants of a shared machine disturb less than wall time.
func runPipeline(b *testing.B, pool *pgxpool.Pool, name string, r benchRoute, n int) (float64, float64) {
	b.Helper()
	sink := &countSink{want: int64(n), done: make(chan struct{})}
	var srcs []router.Source
	const sources = 4
	for s := 0; s < sources; s++ {
		var msgs []*message.Message
		for i := s * n / sources; i < (s+1)*n/sources; i++ {
			msgs = append(msgs, benchEvent(b, fmt.Sprintf("%s-%06d", name, i)))
		}
		srcs = append(srcs, router.Source{Name: fmt.Sprintf("src%d", s), Source: pipelinetest.NewListSource(msgs...)})
	}
	rt, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    name,
		Sources: srcs,
		Sinks:   []router.Sink{{Name: "sink", Publisher: sink, Filter: r.filter, Transform: r.transform}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start, cpu0 := time.Now(), processCPU()
	go func() { done <- rt.Run(ctx) }()
	select {
	case <-sink.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%s: %d of %d events after 5 min", name, sink.n.Load(), n)
	}
	eps := float64(n) / time.Since(start).Seconds()
	us := float64((processCPU() - cpu0).Microseconds()) / float64(n)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return eps, us
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
