package socketio_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/socketio"
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
	pool := pgtest.NewPool(t)
	srv, url := startServer(t, socketiotest.Config{})
	sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket(url), MaxInFlight: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "panel", Subscriber: sub}},
		Sinks:   []router.Sink{{Name: "count", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	waitJoined(t, srv, "/", 1)
	b := make([]byte, 4000)
	_, _ = rand.Read(b)
	long := "long-" + hex.EncodeToString(b)
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
