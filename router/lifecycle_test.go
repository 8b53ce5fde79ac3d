package router_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// gatedSource hands on events sent to it, one at a time, redelivering on nack.
type gatedSource struct{ in chan *message.Message }

func (s gatedSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for {
			var m *message.Message
			select {
			case m = <-s.in:
			case <-ctx.Done():
				return
			}
			for {
				c := m.Copy()
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
				select {
				case <-c.Acked():
				case <-c.Nacked():
					time.Sleep(50 * time.Millisecond)
					continue
				case <-ctx.Done():
					return
				}
				break
			}
		}
	}()
	return out, nil
}

func (gatedSource) Close() error { return nil }

// TestDatabaseConnectionsKilledAreReconnected terminates every connection of
// the router's database mid-run; events sent afterwards still arrive.
func TestDatabaseConnectionsKilledAreReconnected(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for reconnects")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	src := gatedSource{in: make(chan *message.Message, 100)}
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name: "reconnect", Sources: []router.Source{{Name: "src", Source: tributary.FromSubscriber(src, "src")}},
		Sinks: []router.Sink{{Name: "hook", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	for _, id := range pipelinetest.EventIDs("before", 10) {
		src.in <- tributary.NewEventMessage(id, []byte("{}"))
	}
	pipelinetest.WaitFor(t, 20*time.Second, "events before the outage", func() bool { return sink.Distinct() == 10 })

	admin, err := pgxpool.New(context.Background(), pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var dbName string
	if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	var killed int
	if err := admin.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`, dbName).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no connection was terminated; the test proves nothing")
	}
	for _, id := range pipelinetest.EventIDs("after", 10) {
		src.in <- tributary.NewEventMessage(id, []byte("{}"))
	}
	pipelinetest.WaitFor(t, 30*time.Second, "events after the outage", func() bool { return sink.Distinct() == 20 })
	t.Logf("terminated %d connections; all 20 events delivered", killed)
}

// TestShutdownAcksNothingUndelivered cancels the router while a delivery
// hangs: the message is not acked, and the next run delivers it.
func TestShutdownAcksNothingUndelivered(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for a drain timeout")
	}
	t.Parallel()
	forEachBackend(t, testShutdownAcksNothingUndelivered)
}

func testShutdownAcksNothingUndelivered(t *testing.T, bc backendCase) {
	backend, _, _ := bc.new(t)
	var hang atomic.Bool
	hang.Store(true)
	started := make(chan struct{}, 10)
	sink := pipelinetest.NewSink(func(m *message.Message) error {
		if hang.Load() {
			started <- struct{}{}
			<-m.Context().Done()
			return m.Context().Err()
		}
		return nil
	})
	pipeline := func() router.Pipeline {
		return router.Pipeline{
			Name: "drain", Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("e1")}},
			Sinks: []router.Sink{{Name: "hook", Publisher: sink}},
		}
	}
	r, err := router.New(router.Config{Backend: backend, CloseTimeout: 500 * time.Millisecond}, pipeline())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("delivery did not start")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("router did not stop after its close timeout")
	}
	if sink.Distinct() != 0 {
		t.Fatal("the hanging delivery was recorded")
	}

	hang.Store(false)
	r2, err := router.New(router.Config{Backend: backend}, pipeline())
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r2)
	pipelinetest.WaitFor(t, 20*time.Second, "redelivery after restart", func() bool { return sink.Count("e1") == 1 })
}

func TestConfigErrorsAreClear(t *testing.T) {
	t.Parallel()
	ok := router.Pipeline{
		Name:    "p",
		Sources: []router.Source{{Name: "s", Source: pipelinetest.NewEventSource()}},
		Sinks:   []router.Sink{{Name: "k", Publisher: pipelinetest.NewSink(nil)}},
	}
	cases := []struct {
		name string
		cfg  router.Config
		p    func(p router.Pipeline) router.Pipeline
		want string
	}{
		{"no backend", router.Config{}, func(p router.Pipeline) router.Pipeline { return p }, "Backend is required"},
		{"bad name", router.Config{Backend: router.Memory()}, func(p router.Pipeline) router.Pipeline { p.Name = "Doors!"; return p }, `pipeline name "Doors!"`},
		{"no sinks", router.Config{Backend: router.Memory()}, func(p router.Pipeline) router.Pipeline { p.Sinks = nil; return p }, "no sinks"},
		{"bad schedule", router.Config{Backend: router.Memory()}, func(p router.Pipeline) router.Pipeline {
			p.Retry.Schedule = middleware.Schedule{Kind: "fibonacci"}
			return p
		}, `schedule kind "fibonacci"`},
		{"duplicate sink", router.Config{Backend: router.Memory()}, func(p router.Pipeline) router.Pipeline {
			p.Sinks = append(p.Sinks, p.Sinks[0])
			return p
		}, `sink "k" named twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := router.New(c.cfg, c.p(ok))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestMemoryBackendRunsAPipeline: the in-memory backend, for unit tests,
// runs the same composition (fan-out, dedup, poison).
func TestMemoryBackendRunsAPipeline(t *testing.T) {
	t.Parallel()
	mem := router.Memory()
	a := pipelinetest.NewSink(nil)
	bad := pipelinetest.NewSink(func(m *message.Message) error {
		if tributary.EventID(m) == "x-0001" {
			return middleware.Permanent(errors.New("rejected"))
		}
		return nil
	})
	ids := pipelinetest.EventIDs("x", 20)
	r, err := router.New(router.Config{Backend: mem}, router.Pipeline{
		Name:    "mem",
		Sources: []router.Source{{Name: "a", Source: pipelinetest.NewEventSource(ids...)}, {Name: "b", Source: pipelinetest.NewEventSource(ids...)}},
		Sinks:   []router.Sink{{Name: "a", Publisher: a}, {Name: "bad", Publisher: bad}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 10*time.Second, "delivery", func() bool { return a.Distinct() == 20 && len(mem.Poison.Records()) == 1 })
	for _, id := range ids {
		if a.Count(id) != 1 {
			t.Fatalf("%s delivered %d times", id, a.Count(id))
		}
	}
}
