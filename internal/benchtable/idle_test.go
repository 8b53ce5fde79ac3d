package benchtable_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

const idleSources = 1000

type footprint struct {
	heap       uint64
	goroutines int
}

func measure() footprint {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{heap: m.HeapInuse + m.StackInuse, goroutines: runtime.NumGoroutine()}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleAPI answers 304 to a matching If-None-Match and counts those answers.
func idleAPI() (*httptest.Server, *atomic.Int64) {
	var polls atomic.Int64
	const etag = `W/"idle"`
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			polls.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	})), &polls
}

type idleCost struct {
	cpuPerPoll       time.Duration
	bytesPerSource   float64
	goroutinesPerSrc float64
}

// settle waits until every poller answers 304s, measures, then counts
// CPU over 5,000 idle polls.
func settle(polls *atomic.Int64, before footprint) idleCost {
	for polls.Load() < 3*idleSources {
		time.Sleep(5 * time.Millisecond)
	}
	after := measure()
	if f := os.Getenv("BENCH_HEAP"); f != "" {
		if out, err := os.Create(f); err == nil {
			_ = pprof.Lookup("heap").WriteTo(out, 0)
			_ = out.Close()
		}
	}
	if f := os.Getenv("BENCH_GOROUTINES"); f != "" {
		if out, err := os.Create(f); err == nil {
			_ = pprof.Lookup("goroutine").WriteTo(out, 1)
			_ = out.Close()
		}
	}
	cpu0, p0 := cpuTime(), polls.Load()
	for polls.Load()-p0 < 5000 {
		time.Sleep(time.Millisecond)
	}
	return idleCost{
		cpuPerPoll:       (cpuTime() - cpu0) / time.Duration(polls.Load()-p0),
		bytesPerSource:   float64(int64(after.heap)-int64(before.heap)) / idleSources,
		goroutinesPerSrc: float64(after.goroutines-before.goroutines) / idleSources,
	}
}

// idleETagSources: 1,000 ETag sources polling every 50 ms an API with
// nothing new, built as the binary builds them: from a pipeline file by the
// loader, run by the router with leadership on Postgres.
func idleETagSources(b *testing.B) idleCost {
	pool := pgtest.NewPool(b)
	srv, polls := idleAPI()
	defer srv.Close()
	before := measure()
	var file strings.Builder
	file.WriteString("pipelines:\n  - name: idle\n    sources:\n")
	for i := range idleSources {
		fmt.Fprintf(&file, "      - {name: idle-%04d, type: etagpoll, options: {base_url: %q, interval: 50ms}}\n", i, srv.URL)
	}
	file.WriteString("    sinks:\n      - {name: nop, type: log, options: {path: /dev/null}}\n")
	cfg, err := config.Load("idle.yaml", []byte(file.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	pipelines, err := cfg.Build(pool, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := router.New(router.Config{Backend: cfg.NewBackend(pool), Leadership: &router.Leadership{}}, pipelines...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	return settle(polls, before)
}

// idleRawPolls is the baseline: 1,000 goroutines doing the same
// conditional GET with a bare net/http client.
func idleRawPolls() idleCost {
	srv, polls := idleAPI()
	defer srv.Close()
	before := measure()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range idleSources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			etag := ""
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/eventlogs?limit=1", nil)
				if etag != "" {
					req.Header["If-None-Match"] = []string{etag}
				}
				if resp, err := http.DefaultClient.Do(req); err == nil {
					etag = resp.Header.Get("ETag")
					_ = resp.Body.Close()
				}
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	return settle(polls, before)
}

type nopSink struct{}

func (nopSink) Publish(string, ...*message.Message) error { return nil }
func (nopSink) Close() error                              { return nil }

// BenchmarkIdleSources is the idle-sources rows on their own, for
// profiling (BENCH_GOROUTINES=file writes the goroutine profile,
// BENCH_HEAP=file the heap profile).
func BenchmarkIdleSources(b *testing.B) {
	if os.Getenv("BENCH_HEAP") != "" {
		runtime.MemProfileRate = 256 // every source's allocations, not a sample
	}
	c := idleETagSources(b)
	b.ReportMetric(c.bytesPerSource/1024, "KB/source")
	b.ReportMetric(c.goroutinesPerSrc, "goroutines/source")
	b.ReportMetric(float64(c.cpuPerPoll.Microseconds()), "µs/poll")
}
