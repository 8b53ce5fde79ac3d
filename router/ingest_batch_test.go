package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// TestIngestBatchFailsOnlyTheBadMessage: four sources ingest at once, so
// their messages share transactions; one event Postgres refuses (a NUL byte
// in its id) must fail alone — it is set aside in the ingest quarantine —
// and every other event must be stored exactly once.
func TestIngestBatchFailsOnlyTheBadMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	var srcs []router.Source
	var good []string
	for i, name := range []string{"s0", "s1", "s2", "s3"} {
		ids := pipelinetest.EventIDs(name, 100)
		good = append(good, ids...)
		if i == 2 {
			ids = append(ids[:50:50], append([]string{"bad\x00id"}, ids[50:]...)...)
		}
		srcs = append(srcs, router.Source{Name: name, Source: pipelinetest.NewEventSource(ids...)})
	}
	reg := prometheus.NewRegistry()
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Metrics: reg}, router.Pipeline{
		Name: "batch", Sources: srcs, Sinks: []router.Sink{{Name: "sink", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "every good event", func() bool { return sink.Distinct() == 400 })
	if n := pipelinetest.MetricValue(t, reg, "tributary_events_quarantined_total", "pipeline", "batch", "source", "s2"); n != 1 {
		t.Fatalf("%v events quarantined, want the bad one", n)
	}
	for _, id := range good {
		if sink.Count(id) != 1 {
			t.Fatalf("%s delivered %d times", id, sink.Count(id))
		}
	}
	var stored int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_messages WHERE topic = 'tributary.batch'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 400 {
		t.Fatalf("topic holds %d events, want 400", stored)
	}
	// The events were stored in fewer transactions than events: they shared commits.
	var txs int
	if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT xmin::text) FROM tributary_messages WHERE topic = 'tributary.batch'`).Scan(&txs); err != nil {
		t.Fatal(err)
	}
	t.Logf("400 events stored in %d transactions", txs)
	if txs >= stored {
		t.Fatalf("every event had a transaction of its own (%d); the ingest path did not batch", txs)
	}
}
