package pgtest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Cluster is a PostgreSQL server of a test's own, under /var/tmp
// (TRIBUTARY_PG_SCRATCH replaces it) on a free loopback port, removed when
// the test ends. Nothing else uses it, so the test may crash it and give it
// the settings it measures (fsync and synchronous_commit on).
type Cluster struct {
	t    testing.TB
	dir  string // data directory
	port int
}

// NewCluster initdbs and starts a cluster with settings (postgresql.conf
// names and values) added to the defaults. Without PostgreSQL binaries the
// test is skipped (fails under TRIBUTARY_REQUIRE_PEERS=1).
func NewCluster(t testing.TB, settings map[string]string) *Cluster {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		unavailable(t, "pgtest: no PostgreSQL binaries in /usr/lib/postgresql/*/bin for a cluster of the test's own")
	}
	dir, err := os.MkdirTemp(cmp.Or(os.Getenv("TRIBUTARY_PG_SCRATCH"), "/var/tmp"), "tributary-cluster-")
	if err != nil {
		t.Fatalf("pgtest: cluster directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// PostgreSQL refuses to run as root: as root, the cluster is the
	// postgres user's (and MkdirTemp's 0700 lets only its owner in).
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user for the cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	if err := runAsOwner(initdb, dir); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	c := &Cluster{t: t, dir: data, port: freePort(t)}
	conf := map[string]string{
		"port": strconv.Itoa(c.port), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "'" + dir + "'",
		"max_connections": "200",
	}
	maps.Copy(conf, settings)
	path := filepath.Join(data, "postgresql.conf")
	text, err := os.ReadFile(path)
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		text = fmt.Appendf(text, "%s = %s\n", k, conf[k])
	}
	if err == nil {
		err = os.WriteFile(path, text, 0o600)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c.Start()
	t.Cleanup(func() { _, _ = pgCtl(c.dir, "stop", "-m", "immediate", "-w", "-t", "60") })
	return c
}

// Dir is the cluster's data directory (postmaster.pid is in it).
func (c *Cluster) Dir() string { return c.dir }

// URL is the URL of database db on the cluster.
func (c *Cluster) URL(db string) string {
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(c.port),
		Path: "/" + db, RawQuery: "sslmode=disable"}).String()
}

// Start starts the (stopped) cluster and returns once it accepts
// connections: after a crash, once it has recovered.
func (c *Cluster) Start() {
	c.t.Helper()
	out, err := pgCtl(c.dir, "start", "-w", "-t", "120", "-l", filepath.Join(filepath.Dir(c.dir), "postgres.log"))
	if err != nil {
		c.t.Fatalf("pgtest: start the cluster: %v\n%s", err, out)
	}
	waitAccepts(c.t, c.URL("postgres"), "the cluster does not accept connections")
}

// Crash stops the server as a power cut would (`pg_ctl stop -m immediate`:
// no checkpoint, no flush). A returned commit is kept, unless made with
// synchronous_commit off and not yet written by the WAL writer.
func (c *Cluster) Crash() {
	c.t.Helper()
	if out, err := pgCtl(c.dir, "stop", "-m", "immediate", "-w", "-t", "60"); err != nil {
		c.t.Fatalf("pgtest: crash the cluster: %v\n%s", err, out)
	}
}

// NewDatabase creates a database on the cluster and returns its URL.
func (c *Cluster) NewDatabase(name string) string {
	c.t.Helper()
	if err := adminExec(c.URL("postgres"), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatalf("pgtest: create database: %v", err)
	}
	return c.URL(name)
}

// pgBinDir is the newest /usr/lib/postgresql/*/bin holding initdb, or "".
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) }) // newest first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// waitAccepts returns once the server at url accepts connections, failing t
// (with what) if it does not within 60 s.
func waitAccepts(t testing.TB, url, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_ = conn.Close(ctx)
			return
		}
		if backoff.Sleep(ctx, 50*time.Millisecond) != nil {
			t.Fatalf("pgtest: %s: %v", what, err)
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
