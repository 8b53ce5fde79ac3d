package cli

import (
	"testing"

	"github.com/tributary-dev/tributary/config"
)

func TestBackendLabel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		b    config.BackendSpec
		want string
	}{
		{config.BackendSpec{Type: config.BackendPostgres}, "PostgreSQL (tables of the database)"},
		{config.BackendSpec{Type: config.BackendJetStream, URL: "nats://user:s3cret@nats.example:4222"}, "NATS JetStream at nats.example:4222"},
		{config.BackendSpec{Type: config.BackendJetStream, URL: "nats.example:4222"}, "NATS JetStream"},
	}
	for _, c := range cases {
		if got := backendLabel(c.b); got != c.want {
			t.Errorf("backendLabel(%+v) = %q, want %q", c.b, got, c.want)
		}
	}
}
