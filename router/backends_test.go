package router_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
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
