package benchtable_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// server is a PostgreSQL cluster of the benchmark's own (pgtest.NewCluster,
// initdb'd under /var/tmp): the machine's server is never touched, and
// the two clusters differ only in durability.
type server struct {
	name    string
	cluster *pgtest.Cluster
	mu      sync.Mutex
	dbs     int
}

// durableSettings is what users run: every commit that waits, waits for
// the disk. fastSettings is the tests' cluster's (nothing waits).
var (
	durableSettings = map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
	fastSettings    = map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
)

// servers starts the two clusters for b (a top-level benchmark: they are
// stopped and removed when it ends).
func servers(b *testing.B) (durable, fast *server) {
	common := map[string]string{"shared_buffers": "'256MB'", "max_wal_size": "'2GB'"}
	merge := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return &server{name: "durable", cluster: pgtest.NewCluster(b, merge(durableSettings))},
		&server{name: "fsync off", cluster: pgtest.NewCluster(b, merge(fastSettings))}
}

// pool is a fresh migrated database on s with a pool on it; close the pool
// (at the latest the benchmark does) before reading s.stats for a run, so
// its backends report their statistics on exit.
func (s *server) pool(b *testing.B) *pgxpool.Pool {
	s.mu.Lock()
	s.dbs++
	name := fmt.Sprintf("bench_%d", s.dbs)
	s.mu.Unlock()
	return pgtest.PoolFor(b, s.cluster.NewDatabase(name))
}

// pgStats are the cluster-wide counters a run is measured by.
type pgStats struct {
	commits, walSyncs int64
	cpu               time.Duration
}

func (s *server) stats(b *testing.B) pgStats {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, s.cluster.URL("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var st pgStats
	// Backends report at exit or at most once a second; the runs close
	// their pools first, and this waits out the rest.
	time.Sleep(1100 * time.Millisecond)
	if err := p.QueryRow(ctx, `SELECT (SELECT sum(xact_commit)::bigint FROM pg_stat_database), (SELECT wal_sync FROM pg_stat_wal)`).
		Scan(&st.commits, &st.walSyncs); err != nil {
		b.Fatal(err)
	}
	st.cpu = clusterCPU(s.cluster.Dir())
	return st
}

// clusterCPU is the CPU time used so far by the PostgreSQL server whose
// data directory is dir and its backends still alive, from /proc; 0 when
// unknown. Beside cpuTime (this process) it gives CPU per event, which on
// a shared machine varies far less than events/s.
func clusterCPU(dir string) time.Duration {
	data, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	root := strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
	return treeCPU(root)
}

// treeCPU is the CPU time of process pid and its children still alive
// (with what their own dead children used).
func treeCPU(pid string) time.Duration {
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces): state ppid … utime(14) stime(15) cutime(16) cstime(17).
		rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(rest) < 15 || (e.Name() != pid && rest[1] != pid) {
			continue
		}
		for _, f := range rest[11:15] {
			v, _ := strconv.ParseInt(f, 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

// mallocs is how many heap objects this process allocated so far.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
