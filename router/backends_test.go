package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// backendCase is one backend the router's suites run against, built fresh
// for each test: its own database, and for JetStream its own nats-server
// (never the machine's on 4222).
type backendCase struct {
	name string
	// new returns the backend and the database that keeps its poison
	// records and dedup keys; nats is nil for Postgres.
	new func(t *testing.T) (router.Backend, *pgxpool.Pool, *natstest.Server)
}

var backendCases = []backendCase{
	{"postgres", func(t *testing.T) (router.Backend, *pgxpool.Pool, *natstest.Server) {
		pool := pgtest.NewPool(t)
		return router.Postgres(pool), pool, nil
	}},
	{"jetstream", func(t *testing.T) (router.Backend, *pgxpool.Pool, *natstest.Server) {
		pool := pgtest.NewPool(t)
		srv := natstest.Start(t)
		return router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool, AckWait: 5 * time.Second}), pool, srv
	}},
}

// forEachBackend runs test once per backend, in parallel.
func forEachBackend(t *testing.T, test func(t *testing.T, bc backendCase)) {
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			test(t, bc)
		})
	}
}

// poisonQueue is the poison queue of pipelines on b.
func poisonQueue(b router.Backend, pool *pgxpool.Pool) *router.PoisonQueue {
	if js, ok := b.(*router.JetStreamBackend); ok {
		return js.PoisonQueue()
	}
	return router.NewPoisonQueue(pool)
}

// streamState is the state of pipeline's stream on the NATS server at url.
func streamState(t testing.TB, url, pipeline string) jetstream.StreamState {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, jstopic.StreamName(router.Topic(pipeline)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// storedEvents is how many events pipeline's topic has stored: its rows in
// Postgres, or its stream's last sequence in JetStream (natsURL set).
func storedEvents(t testing.TB, pool *pgxpool.Pool, natsURL, pipeline string) int {
	t.Helper()
	ctx := context.Background()
	if natsURL == "" {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_messages WHERE topic = $1`, router.Topic(pipeline)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Every message stored takes the next sequence, and a repeat dropped by
	// its Nats-Msg-Id takes none: the last sequence counts what was ever
	// stored, including what every sink acked since (and the stream removed).
	return int(streamState(t, natsURL, pipeline).LastSeq)
}

// natsURL is srv's URL, "" for none.
func natsURL(srv *natstest.Server) string {
	if srv == nil {
		return ""
	}
	return srv.URL
}
