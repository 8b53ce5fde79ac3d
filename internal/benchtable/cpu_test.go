package benchtable_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pgCPU is the CPU time used so far by the tests' PostgreSQL server
// (TRIBUTARY_TEST_PGDATA) and its backends that are still alive, read from
// /proc; 0 when unknown. Beside cpuTime (this process) it gives CPU per
// event, which on a shared machine varies far less than events/s.
func pgCPU() time.Duration {
	data, err := os.ReadFile(filepath.Join(os.Getenv("TRIBUTARY_TEST_PGDATA"), "postmaster.pid"))
	if err != nil {
		return 0
	}
	root := strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
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
		if len(rest) < 15 || (e.Name() != root && rest[1] != root) {
			continue
		}
		for _, f := range rest[11:15] {
			v, _ := strconv.ParseInt(f, 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}
