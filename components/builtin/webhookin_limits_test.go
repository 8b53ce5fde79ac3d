package builtin_test

import (
	"context"
	"github.com/tributary-dev/tributary/components/builtin"
	"github.com/tributary-dev/tributary/tributarytest"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// buildWebhookIn builds the webhookin source of a pipeline file with the
// given options block (YAML lines), env for its ${VARS}.
func buildWebhookIn(t *testing.T, options string, env map[string]string) *builtin.WebhookIn {
	t.Helper()
	cfg, err := load(t, pipelineFile(webhookInYAML(options), logSink), env)
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pipes[0].Sources[0].Source.(*builtin.WebhookIn)
}

// TestWebhookInConnectionCap: with max_connections: 2, two connections
// that send nothing hold the server's two slots; a third request is not
// served while they stay open and is served as soon as one closes.
func TestWebhookInConnectionCap(t *testing.T) {
	t.Parallel()
	src := buildWebhookIn(t, "          listen: 127.0.0.1:0\n          path: /in\n          token: t\n          max_connections: 2\n", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := tributarytest.Start(ctx, src); err != nil {
		t.Fatal(err)
	}
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", src.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+src.Addr()+"/in", "application/json", strings.NewReader(`{}`))
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	// Absence can only be checked for a while: a loaded machine makes the
	// check weaker, never wrong.
	select {
	case code := <-answered:
		t.Fatalf("a third connection was served (%d) while two held the cap", code)
	case <-time.After(300 * time.Millisecond):
	}
	idle[0].Close()
	if code := <-answered; code != http.StatusUnauthorized {
		t.Fatalf("after a slot freed: %d, want 401 (no token)", code)
	}
}
