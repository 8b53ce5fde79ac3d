package pgtest_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// privateCluster starts a cluster of this test's own with
// scripts/test-postgres.sh (as `task test` does, in a scratch folder of its
// own), stopped and removed when t ends, and returns its URL and data dir.
func privateCluster(t *testing.T) (url, dataDir string) {
	t.Helper()
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
			t.Fatal("no /usr/lib/postgresql/*/bin/initdb: apt-get install -y postgresql")
		}
		t.Skip("no PostgreSQL binaries for a cluster of the test's own")
	}
	scratch, err := os.MkdirTemp("/var/tmp", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(scratch, 0o755); err != nil { // the postgres user passes through it
		t.Fatal(err)
	}
	script := func(arg string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// `env`, as Taskfile.yml uses it: the exports, evaluated by a shell.
		cmd := exec.CommandContext(ctx, "bash", "-c",
			`exports=$(./scripts/test-postgres.sh `+arg+`) && eval "$exports" && printf '%s\n%s\n' "$TRIBUTARY_TEST_DATABASE_URL" "$TRIBUTARY_TEST_PGDATA"`)
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "TRIBUTARY_PG_SCRATCH="+scratch, "TRIBUTARY_TEST_DATABASE_URL=",
			"TRIBUTARY_TEST_PGDATA=", "TRIBUTARY_TEST_PG_MAX_CONNECTIONS=20")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("test-postgres.sh %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		script("stop")
		_ = os.RemoveAll(scratch)
	})
	lines := strings.Split(strings.TrimSpace(script("env")), "\n")
	if len(lines) < 2 {
		t.Fatalf("test-postgres.sh env printed %q", lines)
	}
	return lines[len(lines)-2], lines[len(lines)-1]
}

// TestOwnCluster starts a cluster as `task test` does (one for its three
// parts: initdb is slow on a busy machine) and checks that
//   - it is the tests' own: a loopback port other than the machine's 5432,
//     max_connections as asked, fsync off;
//   - a test may restart only that server (RequireOwnServer);
//   - RestartServer restarts it.
func TestOwnCluster(t *testing.T) {
	url, dataDir := privateCluster(t)
	t.Run("settings", func(t *testing.T) { testSettings(t, url, dataDir) })
	t.Run("RequireOwnServer", func(t *testing.T) { testRequireOwnServer(t, url, dataDir) })
	t.Run("RestartServer", func(t *testing.T) { testRestartServer(t, url, dataDir) })
}

func testSettings(t *testing.T, url, dataDir string) {
	if strings.Contains(url, ":5432/") || !strings.HasPrefix(url, "postgres://postgres@127.0.0.1:") {
		t.Fatalf("url %q: want a loopback port of its own", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for setting, want := range map[string]string{"max_connections": "20", "fsync": "off", "data_directory": dataDir} {
		var got string
		if err := c.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
}

// testRestartServer: connections made before the restart break, new ones
// work, the server's start time moves on, its settings stay.
func testRestartServer(t *testing.T, url, dataDir string) {
	t.Setenv("TRIBUTARY_TEST_DATABASE_URL", url)
	t.Setenv("TRIBUTARY_TEST_PGDATA", dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startTime := func(c *pgx.Conn) (ts time.Time, err error) {
		err = c.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&ts)
		return ts, err
	}
	before, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close(ctx)
	started, err := startTime(before)
	if err != nil {
		t.Fatal(err)
	}

	pgtest.RestartServer(t)

	if _, err := startTime(before); err == nil {
		t.Fatal("a connection made before the restart still works")
	}
	after, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	defer after.Close(ctx)
	restarted, err := startTime(after)
	if err != nil {
		t.Fatal(err)
	}
	if !restarted.After(started) {
		t.Fatalf("server start time %v, want after %v", restarted, started)
	}
	// The settings survive a plain pg_ctl restart.
	var maxConn string
	if err := after.QueryRow(ctx, "SHOW max_connections").Scan(&maxConn); err != nil || maxConn != "20" {
		t.Fatalf("max_connections after the restart: %q, %v", maxConn, err)
	}
}

// testRequireOwnServer: a test may restart only the server the script
// started and AdminURL names; anything else skips it, or fails it in CI.
func testRequireOwnServer(t *testing.T, url, dataDir string) {
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1" // the same host, another server
	otherPort := u.String()
	for _, tc := range []struct {
		name, url, pgdata, require string
		want                       string // "ok", "skip" or "fail"
	}{
		{"the script's cluster", url, dataDir, "", "ok"},
		{"no TRIBUTARY_TEST_PGDATA", url, "", "", "skip"},
		{"no TRIBUTARY_TEST_PGDATA in CI", url, "", "1", "fail"},
		{"no server in TRIBUTARY_TEST_PGDATA", url, t.TempDir(), "", "skip"},
		{"TRIBUTARY_TEST_PGDATA is not the URL's server", otherPort, dataDir, "", "skip"},
		{"TRIBUTARY_TEST_PGDATA is not the URL's server, CI", otherPort, dataDir, "1", "fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRIBUTARY_TEST_DATABASE_URL", tc.url)
			t.Setenv("TRIBUTARY_TEST_PGDATA", tc.pgdata)
			t.Setenv("TRIBUTARY_REQUIRE_PEERS", tc.require)
			var got string
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = "ok"
				if pgtest.RequireOwnServer(r) != dataDir {
					got = "wrong data dir"
				}
			}()
			<-done
			switch {
			case r.failed:
				got = "fail"
			case r.skipped:
				got = "skip"
			}
			if got != tc.want {
				t.Fatalf("RequireOwnServer: %s (%s), want %s", got, r.msg, tc.want)
			}
		})
	}
}

// recorder notes a Skip or Fatal instead of ending the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }
func (r *recorder) Skipf(format string, args ...any)  { r.Skip(fmt.Sprintf(format, args...)) }
