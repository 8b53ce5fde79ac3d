package main_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// BenchmarkBinaryIdleSources runs the built binary (`tributary run`, with
// leadership, tracing start and source-state tracking as a user gets them)
// on a pipeline file of n etagpoll sources polling a loopback event log
// that answers 304, and reads go_goroutines and
// process_resident_memory_bytes from its own /metrics once every source
// polls. Per source is the difference from a 10-source run, divided by the
// difference in sources, so the fixed cost of the process is not counted.
//
//	go test -run '^$' -bench BinaryIdleSources -benchtime 1x ./cmd/tributary/
func BenchmarkBinaryIdleSources(b *testing.B) {
	base := runIdleBinary(b, 10)
	for _, n := range []int{200, 1000} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			got := runIdleBinary(b, n)
			g := (got.goroutines - base.goroutines) / float64(n-10)
			rss := (got.rss - base.rss) / float64(n-10)
			b.ReportMetric(g, "goroutines/source")
			b.ReportMetric(rss/1024, "KB-RSS/source")
			b.Logf("%d sources: %.0f goroutines (%.0f with 10), RSS %.1f MB (%.1f MB with 10): %.2f goroutines and %.1f KB RSS per source",
				n, got.goroutines, base.goroutines, got.rss/(1<<20), base.rss/(1<<20), g, rss/1024)
		})
	}
}

type processFigures struct{ goroutines, rss float64 }

func runIdleBinary(b *testing.B, n int) processFigures {
	b.Helper()
	var polls atomic.Int64
	const etag = `W/"idle"`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			polls.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	defer api.Close()
	var f strings.Builder
	f.WriteString("pipelines:\n  - name: idle\n    sources:\n")
	for i := range n {
		fmt.Fprintf(&f, "      - {name: idle-%04d, type: etagpoll, options: {base_url: %q, interval: 1s}}\n", i, api.URL)
	}
	f.WriteString("    sinks:\n      - {name: nop, type: log}\n")
	file := filepath.Join(b.TempDir(), "idle.yaml")
	if err := os.WriteFile(file, []byte(f.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(b)}
	migrate(b, env)
	m := freeAddr(b)
	p := start(b, env, "run", "-c", file, "--metrics-addr", m)
	defer p.stop(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for polls.Load() < int64(3*n) {
		if ctx.Err() != nil {
			b.Fatalf("only %d polls answered 304:\n%s", polls.Load(), tail(p.stderr.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range []time.Duration{2, 10, 20} {
		time.Sleep(d * time.Second)
		b.Logf("%d sources after %ds more: RSS %.1f MB, heap in use %.1f MB", n, d, metricValue(b, m, "process_resident_memory_bytes")/(1<<20), metricValue(b, m, "go_memstats_heap_inuse_bytes")/(1<<20))
	}
	return processFigures{goroutines: metricValue(b, m, "go_goroutines"), rss: metricValue(b, m, "process_resident_memory_bytes")}
}

// metricValue reads one unlabelled series from the binary's /metrics.
func metricValue(b *testing.B, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("no %s in /metrics", name)
	return 0
}
