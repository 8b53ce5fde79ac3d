package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// runFor runs the binary and waits at most d for it to exit by itself; a
// process still running then is killed and the test fails (the bug this
// guards against was `run` looping on a missing table until interrupted).
func runFor(t *testing.T, d time.Duration, env []string, args ...string) result {
	t.Helper()
	s := start(t, env, args...)
	select {
	case <-s.done:
	case <-time.After(d):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("%v still running after %s; stderr (%d bytes) ends:\n%s", args, d, len(s.stderr.String()), tail(s.stderr.String(), 1500))
	}
	return result{s.cmd.ProcessState.ExitCode(), s.stdout.String(), s.stderr.String()}
}

// TestBinaryRunChecksSchema: `run` checks goose's version table before it
// starts anything. An empty database, or one missing a migration, exits 4
// naming the missing file and `tributary migrate`, at once; --migrate
// migrates and runs; a database that is down says so (exit 4), not
// "migrate".
func TestBinaryRunChecksSchema(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(`pipelines:
  - name: doors
    sources: [{ name: gen, type: generator, options: { count: 3, interval: 10ms } }]
    sinks: [{ name: out, type: log, options: { path: stderr } }]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := pgtest.NewDatabase(t)
	partial := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, partial) // migrated; then one version is taken back
	if _, err := pool.Exec(context.Background(), `DELETE FROM goose_db_version WHERE version_id = 1`); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		want    []string
		notWant string
	}{
		{"empty database", []string{"DATABASE_URL=" + empty}, nil, 4,
			[]string{"not migrated", "00001_core.sql", "run `tributary migrate`"}, "relation"},
		{"a migration missing", []string{"DATABASE_URL=" + partial}, nil, 4,
			[]string{"not migrated", "00001_core.sql", "run `tributary migrate`"}, "relation"},
		{"database down", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/none?connect_timeout=2"}, nil, 4,
			[]string{"unreachable"}, "migrate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runFor(t, 30*time.Second, c.env, append([]string{"run", "-c", file, "--metrics-addr", ""}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, c.code, tail(r.stderr, 1500))
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, tail(r.stderr, 1500))
				}
			}
			if strings.Contains(r.stderr, c.notWant) {
				t.Errorf("stderr mentions %q:\n%s", c.notWant, tail(r.stderr, 1500))
			}
			if n := strings.Count(r.stderr, "\n"); n > 10 {
				t.Errorf("%d lines on stderr, want a short message:\n%s", n, tail(r.stderr, 1500))
			}
		})
	}

	// --migrate applies what is missing, then runs.
	s := start(t, []string{"DATABASE_URL=" + empty}, "run", "-c", file, "--metrics-addr", "", "--migrate")
	waitFor(t, 30*time.Second, "three events at the log sink", func() bool {
		return strings.Count(s.stderr.String(), `"event_id"`) >= 3
	})
	s.stop(t)
	if r := runFor(t, 30*time.Second, []string{"DATABASE_URL=" + empty}, "migrate"); r.code != 0 || strings.Contains(r.stdout, "00001_core.sql") {
		t.Errorf("migrate after run --migrate: %+v, want nothing left to apply", r)
	}
}
