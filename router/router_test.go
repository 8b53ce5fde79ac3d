package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

func TestFanOutToTwoSinksWithDedup(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testFanOutToTwoSinksWithDedup)
}

func testFanOutToTwoSinksWithDedup(t *testing.T, bc backendCase) {
	backend, pool, srv := bc.new(t)
	ids := pipelinetest.EventIDs("ev", 50)
	reg := prometheus.NewRegistry()
	deduped := func() float64 {
		return pipelinetest.MetricValue(t, reg, "tributary_events_deduped_total", "pipeline", "doors-"+bc.name)
	}
	// The second source re-reads half the events: dedup drops them on ingest.
	src1 := pipelinetest.NewEventSource(ids...)
	src2 := pipelinetest.NewEventSource(ids[:25]...)
	a, b := pipelinetest.NewSink(nil), pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: backend, Metrics: reg}, router.Pipeline{
		Name:    "doors-" + bc.name,
		Sources: []router.Source{{Name: "one", Source: src1}, {Name: "two", Source: src2}},
		Sinks:   []router.Sink{{Name: "a", Publisher: a}, {Name: "b", Publisher: b}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "both sinks to get every event", func() bool {
		return a.Distinct() == 50 && b.Distinct() == 50 && src2.Acked() == 25
	})
	if stored := storedEvents(t, pool, natsURL(srv), "doors-"+bc.name); stored != 50 {
		t.Fatalf("topic holds %d events, want 50 (dedup must keep ingest exactly-once)", stored)
	}
	// Whichever source read an event second had it counted as a duplicate.
	if got := deduped(); got != 25 {
		t.Fatalf("deduped counter = %v, want 25", got)
	}
	for _, id := range ids {
		if a.Count(id) != 1 || b.Count(id) != 1 {
			t.Fatalf("event %s delivered %d/%d times", id, a.Count(id), b.Count(id))
		}
	}
	if srv != nil {
		// The stream keeps an event until both sinks have acked it, then
		// removes it: nothing purges it.
		pipelinetest.WaitFor(t, 10*time.Second, "the stream to remove what both sinks acked", func() bool {
			return streamState(t, srv.URL, "doors-"+bc.name).Msgs == 0
		})
	}
}

// TestDedupHitsCountedPerSource: every time a source hands on an event
// already stored — read again by another source, or repeated by the same
// one (in one ingest batch or not) — its source's count for the event id
// grows by one; the event stored first counts no hit.
func TestDedupHitsCountedPerSource(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	one := pipelinetest.NewEventSource("e1", "e2", "e3")
	two := pipelinetest.NewEventSource("e1", "e1", "e1", "e2")
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "hits",
		Sources: []router.Source{{Name: "one", Source: one}, {Name: "two", Source: two}},
		Sinks:   []router.Sink{{Name: "s", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "every event handed on", func() bool {
		return one.Acked() == 3 && two.Acked() == 4 && sink.Distinct() == 3
	})
	// Per event: the sightings (stored event + hits) by source.
	rows, err := pool.Query(context.Background(), `SELECT key, source, hits FROM tributary_dedup_hits WHERE pipeline = 'hits'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]int64{"e1": {}, "e2": {}, "e3": {}}
	for rows.Next() {
		var key, source string
		var hits int64
		if err := rows.Scan(&key, &source, &hits); err != nil {
			t.Fatal(err)
		}
		seen[key][source] += hits
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, m := range seen {
		var source string
		if err := pool.QueryRow(context.Background(), `SELECT metadata->>'tributary_source' FROM tributary_messages
			WHERE topic = 'tributary.hits' AND metadata->>'tributary_event_id' = $1`, id).Scan(&source); err != nil {
			t.Fatal(err)
		}
		m[source]++
	}
	want := map[string]map[string]int64{"e1": {"one": 1, "two": 3}, "e2": {"one": 1, "two": 1}, "e3": {"one": 1}}
	for id, w := range want {
		for src, n := range w {
			if seen[id][src] != n || len(seen[id]) != len(w) {
				t.Errorf("event %s seen by %v, want %v", id, seen[id], w)
				break
			}
		}
	}
}

func TestPermanentErrorIsPoisonedWithoutRetries(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testPermanentErrorIsPoisonedWithoutRetries)
}

func testPermanentErrorIsPoisonedWithoutRetries(t *testing.T, bc backendCase) {
	backend, pool, _ := bc.new(t)
	calls := 0
	sink := pipelinetest.NewSink(func(m *message.Message) error {
		if m.Metadata.Get("tributary_event_id") == "bad" {
			calls++
			return middleware.Permanent(errors.New("receiver says 400"))
		}
		return nil
	})
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "perm",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("bad", "good")}},
		Sinks:   []router.Sink{{Name: "hook", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	q := poisonQueue(backend, pool)
	pipelinetest.WaitFor(t, 20*time.Second, "the bad event to be poisoned", func() bool {
		n, _ := q.Count(context.Background(), router.PoisonFilter{Pipeline: "perm"})
		return n == 1 && sink.Distinct() == 1
	})
	recs, err := q.List(context.Background(), router.PoisonFilter{Pipeline: "perm"})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].EventID != "bad" || recs[0].Sink != "hook" || recs[0].Attempts != 1 || calls != 1 {
		t.Fatalf("poisoned %+v after %d calls; want event bad on sink hook after 1 attempt", recs[0], calls)
	}
}
