package config_test

import (
	"testing"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

// TestNewRouterRunsAsTheBinary: a loaded file's router has the file's
// backend and leadership on, with the sources that receive (webhookin) in
// every instance and those that read a provider (generator) led; an
// embedder's own Leadership and Backend win.
func TestNewRouterRunsAsTheBinary(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const pipelines = `
pipelines:
  - name: x
    sources:
      - {name: hooks, type: webhookin, options: {listen: "127.0.0.1:0", allow_unauthenticated: true}}
      - {name: ticks, type: generator}
    sinks: [{name: b, type: http, options: {url: "http://127.0.0.1:1/"}}]
`
	for _, tc := range []struct {
		name, backend string
		rc            router.Config
		jetstream     bool
	}{
		{name: "postgres"},
		{name: "jetstream", backend: "backend: { type: jetstream, url: nats://127.0.0.1:1 }\n", jetstream: true},
		{name: "the embedder's backend", backend: "backend: { type: jetstream, url: nats://127.0.0.1:1 }\n", rc: router.Config{Backend: router.Postgres(pool)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load("p.yaml", []byte(tc.backend+pipelines), nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := cfg.NewRouter(pool, tc.rc)
			if err != nil {
				t.Fatal(err)
			}
			if _, js := r.Backend().(*router.JetStreamBackend); js != tc.jetstream {
				t.Errorf("backend %T, want JetStream %v", r.Backend(), tc.jetstream)
			}
			srcs := r.Pipelines()[0].Sources
			if !srcs[0].EveryInstance || srcs[1].EveryInstance {
				t.Errorf("every instance: webhookin %v, generator %v; want true, false", srcs[0].EveryInstance, srcs[1].EveryInstance)
			}
		})
	}
}
