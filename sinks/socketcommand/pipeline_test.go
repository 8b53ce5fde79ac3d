package socketcommand_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/router"
)

// Through the real router: a confirmed command is delivered once, a refused
// one (serverError) and an invalid one are poisoned without retries.
func TestCommandsThroughThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	srv, url := startServer(t, socketiotest.Config{OnCommand: func(c socketiotest.Command) ([]socketiotest.Event, error) {
		if string(c.Body) == `{"doorId":13}` {
			return nil, socketiotest.ErrUnsupported
		}
		return socketiotest.DefaultCommands(c)
	}})
	sink := newPublisher(t, url, 5*time.Second)
	ev := func(id, payload string) *message.Message { return tributary.NewEventMessage(id, []byte(payload)) }
	src := pipelinetest.NewListSource(
		ev("open-1", `{"topic":"door.try.open","body":{"doorId":1}}`),
		ev("open-13", `{"topic":"door.try.open","body":{"doorId":13}}`),
		ev("bad", `{"topic":"door.try.dwellopen","body":{"doorId":1,"dwell":-5}}`),
		ev("discover", `{"topic":"endpoint.discover","body":{}}`),
	)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "commands",
		Sources: []router.Source{{Name: "queue", Source: src}},
		Sinks:   []router.Sink{{Name: "panel", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)

	q := router.NewPoisonQueue(pool)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := q.Count(context.Background(), router.PoisonFilter{Pipeline: "commands"})
		if n == 2 && len(srv.Commands()) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poisoned %d, server got %d commands", n, len(srv.Commands()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := q.List(context.Background(), router.PoisonFilter{Pipeline: "commands"})
	if err != nil {
		t.Fatal(err)
	}
	poisoned := map[string]int{}
	for _, rec := range recs {
		poisoned[rec.EventID] = rec.Attempts
	}
	if poisoned["open-13"] != 1 || poisoned["bad"] != 1 {
		t.Fatalf("poisoned %v; want open-13 and bad after one attempt each", poisoned)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(srv.Commands()); got != 3 {
		t.Fatalf("server got %d commands, want 3 (the invalid one never sent, none retried)", got)
	}
}
