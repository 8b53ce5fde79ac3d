package cli

import (
	"testing"

	"github.com/tributary-dev/tributary/router"
)

func TestBackendLabel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		b    router.BackendConfig
		want string
	}{
		{router.BackendConfig{Type: router.BackendPostgres}, "PostgreSQL (tables of the database)"},
		{router.BackendConfig{Type: router.BackendJetStream, JetStreamConfig: router.JetStreamConfig{URL: "nats://user:s3cret@nats.example:4222"}}, "NATS JetStream at nats.example:4222"},
		{router.BackendConfig{Type: router.BackendJetStream, JetStreamConfig: router.JetStreamConfig{URL: "nats.example:4222"}}, "NATS JetStream"},
	}
	for _, c := range cases {
		if got := backendLabel(c.b); got != c.want {
			t.Errorf("backendLabel(%+v) = %q, want %q", c.b, got, c.want)
		}
	}
}
