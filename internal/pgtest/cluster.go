package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of a test's own: initdb'd for it in a
// directory under /var/tmp (TRIBUTARY_PG_SCRATCH replaces /var/tmp), on a
// free loopback port, stopped and removed when the test ends. Nothing else
// uses it, so the test may crash it (Crash) — what no test may do to a
// shared server — and may give it the settings it wants to measure (a
// durable one: fsync and synchronous_commit on).
type Cluster struct {
	t    testing.TB
	dir  string // data directory
	port int
}

// NewCluster initdbs and starts a cluster with settings (postgresql.conf
// names and values) added to the defaults. Without PostgreSQL binaries in
// /usr/lib/postgresql/*/bin the test is skipped, or fails under
// TRIBUTARY_REQUIRE_PEERS=1.
func NewCluster(t testing.TB, settings map[string]string) *Cluster {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		msg := "pgtest: no PostgreSQL binaries in /usr/lib/postgresql/*/bin for a cluster of the test's own"
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	base := os.Getenv("TRIBUTARY_PG_SCRATCH")
	if base == "" {
		base = "/var/tmp"
	}
	dir, err := os.MkdirTemp(base, "tributary-cluster-")
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
	for k, v := range settings {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s = %s\n", k, conf[k])
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	_, err = f.WriteString(sb.String())
	if cerr := f.Close(); err == nil {
		err = cerr
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("pgtest: the cluster does not accept connections: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Crash stops the server the way a power cut or an OOM kill stops it
// (`pg_ctl stop -m immediate`: no checkpoint, no flush of what is still in
// its memory). A commit that returned before is kept; one made with
// synchronous_commit off may be lost, until the WAL writer has written it
// (wal_writer_delay).
func (c *Cluster) Crash() {
	c.t.Helper()
	if out, err := pgCtl(c.dir, "stop", "-m", "immediate", "-w", "-t", "60"); err != nil {
		c.t.Fatalf("pgtest: crash the cluster: %v\n%s", err, out)
	}
}

// NewDatabase creates a database on the cluster and returns its URL.
func (c *Cluster) NewDatabase(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatalf("pgtest: create database: %v", err)
	}
	return c.URL(name)
}

// pgBinDir is the newest /usr/lib/postgresql/*/bin holding initdb, or "".
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
