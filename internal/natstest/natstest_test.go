package natstest

import (
	"testing"
)

// recorder is a testing.TB that notes Fatal and Skip instead of stopping.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatal(...any)          { r.fatal = true }
func (r *recorder) Skip(...any)           { r.skip = true }
func (r *recorder) Fatalf(string, ...any) { r.fatal = true }

// TestMissingServerFailsUnderRequirePeers: without nats-server, JetStream
// tests skip on a developer machine but fail in CI
// (TRIBUTARY_REQUIRE_PEERS), never silently skip there.
func TestMissingServerFailsUnderRequirePeers(t *testing.T) {
	for _, tc := range []struct {
		require     string
		fatal, skip bool
	}{{"1", true, false}, {"", false, true}} {
		t.Setenv("NATS_SERVER", "/nonexistent/nats-server")
		t.Setenv("TRIBUTARY_REQUIRE_PEERS", tc.require)
		r := &recorder{TB: t}
		if got := binary(r); got != "" || r.fatal != tc.fatal || r.skip != tc.skip {
			t.Errorf("REQUIRE_PEERS=%q: binary %q, fatal %v, skip %v; want fatal %v, skip %v",
				tc.require, got, r.fatal, r.skip, tc.fatal, tc.skip)
		}
	}
}

// TestStartAndRestart: a server of the test's own answers, and answers
// again after a restart on the same port.
func TestStartAndRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Stop()
	s.Restart()
	if s.cmd == nil || s.URL == "" {
		t.Fatal("not running after Restart")
	}
}
