package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/router"
)

const backendPipelines = `
pipelines:
  - name: x
    sources: [{name: a, type: webhookin, options: {path: /a, allow_unauthenticated: true}}]
    sinks: [{name: b, type: http, options: {url: "http://127.0.0.1:1/"}}]
`

// TestBackendKey: `backend:` picks where topics live; mistakes name the key.
func TestBackendKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, backend string
		want          router.BackendConfig
		err           string
	}{
		{name: "absent", want: router.BackendConfig{Type: "postgres"}},
		{name: "postgres", backend: "backend: { type: postgres }", want: router.BackendConfig{Type: "postgres"}},
		{name: "jetstream", backend: "backend: { type: jetstream, url: nats://n1:4222, replicas: 3, ack_wait: 10s }",
			want: router.BackendConfig{Type: "jetstream", JetStreamConfig: router.JetStreamConfig{URL: "nats://n1:4222", Replicas: 3, AckWait: 10 * time.Second}}},
		{name: "url from env, empty for postgres", backend: "backend: { type: postgres, url: \"${NATS_URL:-}\" }",
			want: router.BackendConfig{Type: "postgres"}},
		{name: "unknown type", backend: "backend: { type: kafka }", err: `backend.type: unknown backend "kafka"`},
		{name: "url on postgres", backend: "backend: { type: postgres, url: nats://x }", err: "backend.url: the postgres backend uses DATABASE_URL"},
		{name: "replicas", backend: "backend: { type: jetstream, replicas: 7 }", err: "backend.replicas: 7; want 1 to 5"},
		{name: "unknown key", backend: "backend: { type: jetstream, stream: x }", err: `backend.stream: unknown key "stream"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load("p.yaml", []byte(tc.backend+backendPipelines), func(string) (string, bool) { return "", false })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Backend != tc.want {
				t.Fatalf("backend = %+v, want %+v", cfg.Backend, tc.want)
			}
		})
	}
}
