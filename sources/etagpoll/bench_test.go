package etagpoll

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

const idleSources = 1000

// idleAPI answers 304 to a matching If-None-Match and counts those answers;
// anything else gets an empty event list and the ETag.
func idleAPI(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var polls atomic.Int64
	const etag = `W/"idle-etag"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			polls.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}))
	b.Cleanup(srv.Close)
	return srv, &polls
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

// runIdle counts b.N idle polls (304s) and reports CPU per poll and the
// footprint per source measured against before.
func runIdle(b *testing.B, polls *atomic.Int64, before footprint) {
	for polls.Load() < 3*idleSources { // every source settled on 304s
		time.Sleep(5 * time.Millisecond)
	}
	after := measure()
	b.ResetTimer()
	cpu0, p0 := cpuTime(), polls.Load()
	for polls.Load()-p0 < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	cpu := cpuTime() - cpu0
	n := polls.Load() - p0
	b.StopTimer()
	perPoll := float64(cpu.Nanoseconds()) / float64(n)
	b.ReportMetric(perPoll, "cpu-ns/poll")
	// One poll a minute (the default interval) costs this fraction of a core.
	b.ReportMetric(perPoll/float64(time.Minute)*1e6, "ppm-core/source@60s")
	b.ReportMetric(float64(int64(after.heap)-int64(before.heap))/idleSources, "mem-B/source")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/idleSources, "goroutines/source")
}

// BenchmarkIdleSources runs a thousand ETag sources in one pipeline of the
// real router on Postgres against an API that has nothing new (304). One op
// is one idle poll; the interval is compressed to 50 ms so that the run is
// short, and the cost per poll is what scales to the 60 s default.
func BenchmarkIdleSources(b *testing.B) {
	pool := pgtest.NewPool(b)
	srv, polls := idleAPI(b)
	before := measure()
	store := checkpoint.NewStore(pool)
	sources := make([]router.Source, idleSources)
	for i := range sources {
		name := fmt.Sprintf("idle-%04d", i)
		src, err := NewSource(Config{
			Name: name, BaseURL: srv.URL, Checkpoints: store, Interval: 50 * time.Millisecond,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		sources[i] = router.Source{Name: name, Subscriber: src}
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name: "idle", Sources: sources, Sinks: []router.Sink{{Name: "nop", Publisher: nopSink{}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	pipelinetest.RunRouter(b, r)
	runIdle(b, polls, before)
}

// BenchmarkIdleRawPolls is the baseline: a thousand goroutines doing the
// same conditional GET with a bare net/http client on the same transport,
// with no source, router or checkpoint around it.
func BenchmarkIdleRawPolls(b *testing.B) {
	srv, polls := idleAPI(b)
	before := measure()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Transport: defaultTransport}
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
				if resp, err := client.Do(req); err == nil {
					etag = resp.Header.Get("ETag")
					_ = resp.Body.Close()
				}
				_ = sleepCtx(ctx, 50*time.Millisecond)
			}
		}()
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	runIdle(b, polls, before)
}
