package etagpoll

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestUnstorableEventDoesNotStopThePoll: the API returns an event whose
// type holds a NUL (no jsonb can store it), one whose id is 8 KB of random
// text (over the btree row limit), then ordinary ones. The first is set
// aside in the ingest quarantine, the rest are stored and delivered, and
// the checkpoint's cursor moves past all of them — only once each is stored
// or quarantined. Before, the source handed the first event on for ever
// and stored nothing after it.
func TestUnstorableEventDoesNotStopThePoll(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: Postgres and the router")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	api := newFakeAPI(t)
	store := &savingStore{Store: checkpoint.NewStore(pool)}
	src, _, _ := newTestSource(t, api, store, "hostile", func(c *Config) { c.StartFrom = api.now().Add(-time.Hour) })
	sink := pipelinetest.NewSink(nil)
	pipelinetest.RunRouter(t, pipeline(t, pool, "hostile", src, sink))
	started(t, store)

	api.mu.Lock()
	bad := api.addLocked(2, 0)
	api.events[len(api.events)-2].Type = "door\x00opened"
	api.events[len(api.events)-1].ID = "ev-" + pipelinetest.RandomText(8000)
	long := api.events[len(api.events)-1].ID
	last := api.events[len(api.events)-1].CreatedAt
	api.mu.Unlock()
	after := api.add(3)

	pipelinetest.WaitFor(t, 30*time.Second, "the events after the unstorable one", func() bool {
		return sink.Count(long) == 1 && len(missing(sink.Counts(), after)) == 0
	})
	if sink.Count(bad[0]) != 0 {
		t.Fatal("the unstorable event reached the sink")
	}
	recs, err := router.NewIngestQuarantine(pool).List(context.Background(), router.QuarantineFilter{Source: "hostile"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].EventID != bad[0] || recs[0].Metadata["tributary_event_type"] != "door\x00opened" {
		t.Fatalf("quarantine: %+v, want the NUL-type event", recs)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the cursor to move past the unstorable events", func() bool {
		saved := store.saved()
		return len(saved) > 0 && !saved[len(saved)-1].Cursor.Before(last)
	})
}
