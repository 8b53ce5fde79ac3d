package socketcommand_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/nodepeer"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/socketio/client"
)

// firstUnanswered leaves the first command with each id unanswered (its
// result lost) and answers a re-send of the same id.
func firstUnanswered() func(socketiotest.Command) ([]socketiotest.Event, error) {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(c socketiotest.Command) ([]socketiotest.Event, error) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[c.ID] {
			seen[c.ID] = true
			return nil, socketiotest.ErrNoAnswer
		}
		return socketiotest.DefaultCommands(c)
	}
}

// TestRetryReusesCommandID: a command whose result did not come in time is
// sent again with the same id when its message is redelivered; a toggle is
// not sent again (permanent) unless RetryToggleTimeouts allows it.
func TestRetryReusesCommandID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		topic       string
		retryToggle bool
		wantSends   int  // commands the panel receives
		permanent   bool // the timed-out first attempt's error
	}{
		{"door.try.open is re-sent", "door.try.open", false, 2, false},
		{"door.actuate.dnd is not re-sent", "door.actuate.dnd", false, 1, true},
		{"door.actuate.forcetoggle is not re-sent", "door.actuate.forcetoggle", false, 1, true},
		{"door.actuate.dnd with RetryToggleTimeouts", "door.actuate.dnd", true, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startServer(t, socketiotest.Config{OnCommand: firstUnanswered()})
			p, err := socketcommand.NewPublisher(socketcommand.Config{
				Socket:              client.Config{URL: url},
				Timeout:             300 * time.Millisecond,
				RetryToggleTimeouts: tt.retryToggle,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			msg := tributary.NewEventMessage("ev-1", []byte(`{"topic":"`+tt.topic+`","body":{"doorId":1}}`))
			err = p.Publish("panel", msg)
			if !errors.Is(err, socketcommand.ErrTimeout) || middleware.IsPermanent(err) != tt.permanent {
				t.Fatalf("first attempt: %v; want ErrTimeout, permanent=%v", err, tt.permanent)
			}
			if !tt.permanent {
				// The router redelivers the same message (same UUID and metadata).
				if err := p.Publish("panel", msg.Copy()); err != nil {
					t.Fatalf("second attempt: %v", err)
				}
			}
			cmds := srv.Commands()
			if len(cmds) != tt.wantSends {
				t.Fatalf("panel got %d commands, want %d", len(cmds), tt.wantSends)
			}
			want := socketcommand.CommandID("panel", msg)
			for i, c := range cmds {
				if c.ID != want {
					t.Fatalf("send %d has id %s, want %s (the same on every attempt)", i+1, c.ID, want)
				}
			}
			if _, err := uuid.Parse(want); err != nil {
				t.Fatalf("command id %q is not a UUID", want)
			}
		})
	}
}

// TestCommandIDIsPerSinkAndEvent: the id differs between events and between
// sinks, and follows the event id rather than the message UUID.
func TestCommandIDIsPerSinkAndEvent(t *testing.T) {
	t.Parallel()
	a := tributary.NewEventMessage("ev-1", nil)
	b := tributary.NewEventMessage("ev-2", nil)
	a2 := tributary.NewEventMessage("ev-1", nil)
	a2.UUID = uuid.NewString()
	switch {
	case socketcommand.CommandID("panel", a) == socketcommand.CommandID("panel", b):
		t.Fatal("two events share a command id")
	case socketcommand.CommandID("panel", a) == socketcommand.CommandID("other", a):
		t.Fatal("two sinks share a command id")
	case socketcommand.CommandID("panel", a) != socketcommand.CommandID("panel", a2):
		t.Fatal("the id follows the message UUID, not the event id")
	}
}

// TestRealPeerRetriesThroughThePipeline: through the router and Postgres,
// against the real npm socket.io@2 server. The panel's first answer to
// each command is lost: door.try.open is requeued and re-sent with the same
// id, then confirmed; door.actuate.dnd is poisoned after its one send and
// replayable; every attempt is in the delivery log.
func TestRealPeerRetriesThroughThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL and node")
	}
	t.Parallel()
	peer := nodepeer.Start(t, "")
	peer.Mute(2) // the first send of each of the two commands
	pool := pgtest.NewPool(t)
	dlog := deliverylog.NewPostgres(pool)
	sink, err := socketcommand.NewPublisher(socketcommand.Config{
		Socket: client.Config{URL: peer.URL()},
		// Long enough for an answered command on a machine loaded by the
		// race detector; only the muted sends may time out.
		Timeout: 3 * time.Second,
		Log:     dlog,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	src := pipelinetest.NewListSource(
		tributary.NewEventMessage("open-1", []byte(`{"topic":"door.try.open","body":{"doorId":1}}`)),
		tributary.NewEventMessage("dnd-1", []byte(`{"topic":"door.actuate.dnd","body":{"doorId":1}}`)),
	)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "commands",
		Sources: []router.Source{{Name: "queue", Source: src}},
		Sinks: []router.Sink{{Name: "panel", Publisher: sink, Retry: &router.RetryPolicy{
			InProcess: &middleware.Retry{}, // no in-process retry: the re-send comes off the retry topic
			// The retry topic and the sink's main topic are delivered side
			// by side, so the re-send of door.try.open waits long enough for
			// door.actuate.dnd's first (muted) send to go first; at 50 ms a
			// loaded machine sometimes re-sent door.try.open into the mute.
			Schedule: middleware.List(time.Second, time.Second, time.Second),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)

	ctx := context.Background()
	q := router.NewPoisonQueue(pool)
	attempts := func(event string) []deliverylog.Attempt {
		got, err := dlog.Query(ctx, deliverylog.Filter{Pipeline: "commands", Sink: "panel", EventID: event})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	pipelinetest.WaitFor(t, 30*time.Second, "open-1 confirmed and dnd-1 poisoned", func() bool {
		n, _ := q.Count(ctx, router.PoisonFilter{Pipeline: "commands"})
		ok := attempts("open-1")
		return n == 1 && len(ok) > 0 && ok[0].Outcome == deliverylog.OutcomeSuccess
	})
	time.Sleep(300 * time.Millisecond) // nothing further may be sent

	byTopic := map[string][]string{}
	for _, c := range peer.Commands() {
		byTopic[c.Topic] = append(byTopic[c.Topic], c.ID)
	}
	if ids := byTopic["door.try.open"]; len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("door.try.open sent with ids %v; want twice with the same id", ids)
	}
	if ids := byTopic["door.actuate.dnd"]; len(ids) != 1 {
		t.Fatalf("door.actuate.dnd sent %d times (%v); a toggle without a result must not be re-sent", len(ids), ids)
	}

	open := attempts("open-1") // newest first
	if len(open) != 2 || open[1].Outcome != deliverylog.OutcomeTransient || open[1].Attempt != 1 ||
		open[0].Outcome != deliverylog.OutcomeSuccess || open[0].Attempt != 2 || !strings.Contains(open[1].Error, "no command result") {
		t.Fatalf("open-1 attempts: %+v", open)
	}
	dnd := attempts("dnd-1")
	if len(dnd) != 1 || dnd[0].Outcome != deliverylog.OutcomePermanent || !strings.Contains(dnd[0].Error, "not re-sent") {
		t.Fatalf("dnd-1 attempts: %+v", dnd)
	}
	for _, a := range append(open, dnd...) {
		if a.Endpoint == "" || strings.Contains(a.Endpoint, "token=") && !strings.Contains(a.Endpoint, "REDACTED") {
			t.Fatalf("endpoint %q", a.Endpoint)
		}
	}
	recs, err := q.List(ctx, router.PoisonFilter{Pipeline: "commands"})
	if err != nil || len(recs) != 1 || recs[0].EventID != "dnd-1" || recs[0].Attempts != 1 {
		t.Fatalf("poisoned %+v (%v); want dnd-1 after one attempt", recs, err)
	}
	// An operator who knows it did not run replays it: the same id again.
	if err := q.Replay(ctx, recs[0].ID); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the replayed dnd-1 confirmed", func() bool {
		a := attempts("dnd-1")
		return len(a) == 2 && a[0].Outcome == deliverylog.OutcomeSuccess
	})
	byTopic = map[string][]string{}
	for _, c := range peer.Commands() {
		byTopic[c.Topic] = append(byTopic[c.Topic], c.ID)
	}
	if ids := byTopic["door.actuate.dnd"]; len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("replayed door.actuate.dnd sent with ids %v; want the same id", ids)
	}
}
