package socketio_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// countingSink records the event ids it delivers.
type countingSink struct {
	mu  sync.Mutex
	got map[string]int
}

func (s *countingSink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.got[tributary.EventID(m)]++
	}
	return nil
}
func (s *countingSink) Close() error { return nil }
func (s *countingSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func runRouter(tb testing.TB, r *router.Router) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		tb.Fatalf("router stopped: %v", err)
	case <-time.After(30 * time.Second):
		tb.Fatal("router did not start")
	}
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("router: %v", err)
			}
		case <-time.After(60 * time.Second):
			tb.Error("router did not stop")
		}
	})
}

func topicRows(tb testing.TB, pool *pgxpool.Pool, pipeline string) int {
	tb.Helper()
	var n int
	q := fmt.Sprintf(`SELECT count(*) FROM %q`, "watermill_"+router.Topic(pipeline))
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Socket events land in the Postgres topic through the real router, once
// each: the alarm seen again after a reconnect dedups on its hashed id.
func TestSocketIntoPostgresTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	srv, url := startServer(t, socketiotest.Config{})
	sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket("pg-doors", url), MaxInFlight: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{got: map[string]int{}}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "panel", Subscriber: sub}},
		Sinks:   []router.Sink{{Name: "count", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runRouter(t, r)
	waitJoined(t, srv, "/", 1)
	at := time.Date(2023, 5, 4, 17, 59, 16, 0, time.UTC)
	for i, topic := range socketio.SeedTopics {
		if topic == "migration.started" {
			continue // no body, no occurred: every one would share an id
		}
		srv.Emit("/", topic, socketiotest.SampleEvent(topic, socketiotest.Door{ID: i + 1, Name: "Door"}, at, i))
	}
	want := len(socketio.SeedTopics) - 1
	alarm := socketiotest.SampleEvent("door.alarm.forced", socketiotest.Door{ID: 99, Name: "Dock"}, at, 0)
	srv.Emit("/", "door.alarm.forced", alarm)
	want++
	waitFor(t, 30*time.Second, "events in the topic", func() bool { return topicRows(t, pool, "doors") == want })
	srv.Drop()
	waitFor(t, 10*time.Second, "reconnect", func() bool { return sub.Status().Connects == 2 })
	waitJoined(t, srv, "/", 1)
	srv.Emit("/", "door.alarm.forced", alarm) // the same alarm again
	srv.Emit("/", "door.alarm.forced.cleared", socketiotest.SampleEvent("door.alarm.forced.cleared", socketiotest.Door{ID: 99, Name: "Dock"}, at.Add(time.Second), 0))
	want++
	waitFor(t, 30*time.Second, "the sink to get every distinct event", func() bool { return sink.distinct() == want })
	waitFor(t, 10*time.Second, "acks", func() bool { return sub.Pending() == 0 })
	if n := topicRows(t, pool, "doors"); n != want {
		t.Fatalf("topic holds %d events, want %d (the re-seen alarm must dedup)", n, want)
	}
}
