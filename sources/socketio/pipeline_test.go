package socketio_test

import (
	"github.com/tributary-dev/tributary"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// runPipeline runs a socket source ("panel", maxInFlight events in flight)
// into a Postgres pipeline "doors" with a recording sink, and waits until
// the source has joined the test server.
func runPipeline(t *testing.T, maxInFlight int) (*socketiotest.Server, *socketio.Subscriber, *pipelinetest.Sink, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	srv, url := startServer(t, socketiotest.Config{})
	sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket(url), MaxInFlight: maxInFlight}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "panel", Source: tributary.FromSubscriber(sub, "panel")}},
		Sinks:   []router.Sink{{Name: "count", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	waitJoined(t, srv, "/", 1)
	return srv, sub, sink, pool
}

// Socket events land in the Postgres topic through the real router, once
// each: the alarm seen again after a reconnect dedups on its hashed id.
func TestSocketIntoPostgresTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	t.Parallel()
	srv, sub, sink, pool := runPipeline(t, 4)
	at := time.Date(2023, 5, 4, 17, 59, 16, 0, time.UTC)
	for i, topic := range socketio.KnownTopics {
		if topic == "migration.started" {
			continue // no body, no occurred: every one would share an id
		}
		srv.Emit("/", topic, socketiotest.SampleEvent(topic, socketiotest.Door{ID: i + 1, Name: "Door"}, at, i))
	}
	want := len(socketio.KnownTopics) - 1
	alarm := socketiotest.SampleEvent("door.alarm.forced", socketiotest.Door{ID: 99, Name: "Dock"}, at, 0)
	srv.Emit("/", "door.alarm.forced", alarm)
	want++
	pipelinetest.WaitFor(t, 30*time.Second, "events in the topic", func() bool { return pipelinetest.TopicRows(t, pool, "doors") == want })
	srv.Drop()
	pipelinetest.WaitFor(t, 10*time.Second, "reconnect", func() bool { return sub.Status().Connects == 2 })
	waitJoined(t, srv, "/", 1)
	srv.Emit("/", "door.alarm.forced", alarm) // the same alarm again
	srv.Emit("/", "door.alarm.forced.cleared", socketiotest.SampleEvent("door.alarm.forced.cleared", socketiotest.Door{ID: 99, Name: "Dock"}, at.Add(time.Second), 0))
	want++
	pipelinetest.WaitFor(t, 30*time.Second, "the sink to get every distinct event", func() bool { return sink.Distinct() == want })
	pipelinetest.WaitFor(t, 10*time.Second, "acks", func() bool { return sub.Pending() == 0 })
	if n := pipelinetest.TopicRows(t, pool, "doors"); n != want {
		t.Fatalf("topic holds %d events, want %d (the re-seen alarm must dedup)", n, want)
	}
}
