package socketio_test

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// TestUnstorableSocketEventIsQuarantined: a socket event whose id holds a
// NUL (no text column or jsonb can store it) is set aside in the ingest
// quarantine and acked; one whose id is 8 KB of random text is stored; the
// events after them are stored too and nothing stays pending. Before, the
// NUL one was redelivered for ever and held an in-flight slot.
func TestUnstorableSocketEventIsQuarantined(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	t.Parallel()
	srv, sub, sink, pool := runPipeline(t, 1)
	long := "long-" + pipelinetest.RandomText(8000)
	for _, id := range []string{"nul-\x00", long, "after-1", "after-2"} {
		srv.Emit("/", "door.opened", map[string]any{"id": id, "topic": "door.opened", "body": map[string]any{"door": 1}})
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the events after the unstorable one", func() bool {
		return sink.Count(long) == 1 && sink.Count("after-1") == 1 && sink.Count("after-2") == 1
	})
	pipelinetest.WaitFor(t, 10*time.Second, "every event acked", func() bool { return sub.Pending() == 0 })
	recs, err := router.NewIngestQuarantine(pool).List(context.Background(), router.QuarantineFilter{Source: "panel"})
	if err != nil || len(recs) != 1 || recs[0].Metadata["tributary_event_id"] != "nul-\x00" {
		t.Fatalf("quarantine: %v, %+v; want the NUL event", err, recs)
	}
}
