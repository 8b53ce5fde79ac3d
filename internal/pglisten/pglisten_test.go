package pglisten_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pglisten"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// await fails t unless ch yields within a minute (a bound against hanging,
// not a speed check).
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// TestRunSurvivesAKilledConnection: notifications arrive; when the server
// kills the connection, Run reports it, listens again (calling listening
// again, to make up for what it missed) and notifications flow once more.
func TestRunSurvivesAKilledConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	app := "pglisten-" + uuid.NewString()[:8]
	channel := "pglisten_test_" + uuid.NewString()[:8]
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = app

	listening := make(chan struct{}, 4)
	payloads := make(chan string, 4)
	failures := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pglisten.Run(ctx, cfg, channel, func() { listening <- struct{}{} },
			func(p string) { payloads <- p }, func(err error) { failures <- err })
	}()
	t.Cleanup(func() { cancel(); <-done })

	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
			t.Fatal(err)
		}
	}
	await(t, listening, "first LISTEN")
	notify("a")
	if got := await(t, payloads, "notification"); got != "a" {
		t.Fatalf("payload %q, want a", got)
	}

	if _, err := pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app); err != nil {
		t.Fatal(err)
	}
	if err := await(t, failures, "failure report"); err == nil {
		t.Fatal("failure reported as nil")
	}
	await(t, listening, "LISTEN after the kill")
	notify("b")
	if got := await(t, payloads, "notification after the kill"); got != "b" {
		t.Fatalf("payload %q, want b", got)
	}

	cancel()
	await(t, done, "return after cancel")
	select {
	case err := <-failures:
		t.Fatalf("cancelling reported a failure: %v", err)
	default:
	}
}
