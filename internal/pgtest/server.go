package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RestartServer restarts the PostgreSQL server at AdminURL (`pg_ctl restart
// -m fast`) and returns once it accepts connections again: every open
// connection to it breaks, as in a database failover. Only the tests' own
// server may be restarted (see RequireOwnServer).
//
// The restart breaks the connections of every test using the server, other
// packages' too: callers must tolerate that in what they assert about
// others' traffic, and not run in parallel with tests that cannot.
func RestartServer(t testing.TB) {
	t.Helper()
	dataDir := RequireOwnServer(t)
	out, err := pgCtl(dataDir, "restart", "-m", "fast", "-w", "-t", "60", "-l", logFile(dataDir))
	if err != nil {
		t.Fatalf("pgtest: restart the tests' PostgreSQL: %v\n%s", err, out)
	}
	waitAccepts(t, AdminURL(), "PostgreSQL did not come back after the restart")
}

// RequireOwnServer returns TRIBUTARY_TEST_PGDATA once sure the server running
// there is the one AdminURL names; otherwise it skips t (fails it under
// TRIBUTARY_REQUIRE_PEERS=1). Tests that do what only the server's owner may
// (restart it, create fixed-name databases) call it first.
func RequireOwnServer(t testing.TB) string {
	t.Helper()
	notOwn := func(format string, args ...any) {
		t.Helper()
		unavailable(t, "pgtest: the test needs the tests' own PostgreSQL cluster "+
			"(scripts/test-postgres.sh, used by `task test`): "+fmt.Sprintf(format, args...))
	}
	dataDir := os.Getenv("TRIBUTARY_TEST_PGDATA")
	if dataDir == "" {
		notOwn("TRIBUTARY_TEST_PGDATA is not set")
	}
	// postmaster.pid: pid, data directory, start time, port, socket dir, listen address, ...
	pid, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		notOwn("no server runs in TRIBUTARY_TEST_PGDATA=%s: %v", dataDir, err)
	}
	lines := strings.Split(string(pid), "\n")
	u, err := url.Parse(AdminURL())
	if err != nil || len(lines) < 4 || strings.TrimSpace(lines[3]) != u.Port() {
		notOwn("the server in TRIBUTARY_TEST_PGDATA=%s is not the one TRIBUTARY_TEST_DATABASE_URL names", dataDir)
	}
	return dataDir
}

// pgCtl runs the cluster's own pg_ctl as the owner of dataDir (PostgreSQL
// refuses to run as root).
func pgCtl(dataDir string, args ...string) ([]byte, error) {
	pgCtl := "pg_ctl"
	if v, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		bin := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin", "pg_ctl")
		if _, err := os.Stat(bin); err == nil {
			pgCtl = bin
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgCtl, append([]string{"-D", dataDir}, args...)...)
	if err := runAsOwner(cmd, dataDir); err != nil {
		return nil, err
	}
	// The server pg_ctl starts writes to its log file, but should it keep
	// our pipe open, do not wait for it.
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// unavailable skips t for want of what msg says, or fails it under
// TRIBUTARY_REQUIRE_PEERS=1 (CI), where skipping would prove nothing.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// logFile is where scripts/test-postgres.sh has the server log.
func logFile(dataDir string) string {
	if _, err := os.Stat(dataDir + ".run"); err == nil {
		return filepath.Join(dataDir+".run", "postgres.log")
	}
	return filepath.Join(dataDir, "postgres.log")
}
