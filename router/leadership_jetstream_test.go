package router_test

import (
	"context"
	"github.com/tributary-dev/tributary"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// TestLeadershipOnJetStream: two instances of a pipeline on JetStream
// share its source as on Postgres: the leases live in the backend's
// PostgreSQL pool, the source runs in one instance at a time, and its
// events reach the sink once each.
func TestLeadershipOnJetStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	pool := pgtest.NewPool(t)
	ids := pipelinetest.EventIDs("ev", 20)
	sink := pipelinetest.NewSink(nil)
	var mu sync.Mutex
	running, most, built := 0, 0, 0
	newSource := func() tributary.Source {
		return countedSource{ListSource: pipelinetest.NewEventSource(ids...), started: func() {
			mu.Lock()
			defer mu.Unlock()
			running++
			built++
			most = max(most, running)
		}, stopped: func() {
			mu.Lock()
			running--
			mu.Unlock()
		}}
	}
	for _, instance := range []string{"one", "two"} {
		r, err := router.New(router.Config{
			Backend:    router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool}),
			Leadership: &router.Leadership{Instance: instance, TTL: time.Second},
		}, router.Pipeline{
			Name:    "led",
			Sources: []router.Source{{Name: "src", Source: newSource()}},
			Sinks:   []router.Sink{{Name: "hook", Publisher: sink}},
		})
		if err != nil {
			t.Fatal(err)
		}
		pipelinetest.RunRouter(t, r)
	}
	pipelinetest.WaitFor(t, 30*time.Second, "every event from the led source", func() bool { return sink.Distinct() == len(ids) })
	var leases int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_leases WHERE name = $1`,
		router.LeaseName("led", "src")).Scan(&leases); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 1 || built < 1 || leases != 1 {
		t.Fatalf("the source ran in %d instances at once (built %d times), %d lease rows; want 1, at least 1, 1", most, built, leases)
	}
	for _, id := range ids {
		if n := sink.Count(id); n != 1 {
			t.Fatalf("event %s delivered %d times, want once", id, n)
		}
	}
}

// countedSource reports its starts and stops.
type countedSource struct {
	*pipelinetest.ListSource
	started, stopped func()
}

func (s countedSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	s.started()
	return s.ListSource.Start(ctx, emit, func(err error) {
		s.stopped()
		stopped(err)
	})
}
