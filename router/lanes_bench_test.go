package router_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// benchLatency is the receiver's time per request in BenchmarkOrderedLanes.
const benchLatency = 20 * time.Millisecond

// benchLanesPerInstance is how many lanes one instance works at once
// (Sink.Concurrency): three instances together work 33, above 32 lanes, so
// with one or two the instances (the receiver's latency times what they
// have in flight) are the limit, with three the lanes.
const benchLanesPerInstance = 11

type lanesRow struct {
	lanes, instances int
	failing          bool
	rate             float64 // events/s of the keys that do not fail
	violations       int
}

// BenchmarkOrderedLanes delivers events of many keys through an ordered
// sink (order_by, 1, 8 or 32 lanes) to a receiver that takes 20 ms per
// request, with 1, 2 and 3 instances (routers on their own pools, in this
// process) sharing the database, and reports events/s against the ceiling
// lanes × 1/latency. The last row delivers the load of 32 lanes and 3
// instances again with one key failing (held back throughout): the other
// keys' rate is compared with the row without the failure.
// It logs a table for docs/benchmarks.md. Run it alone, once:
//
//	go test -run '^$' -bench BenchmarkOrderedLanes -benchtime 1x ./router
func BenchmarkOrderedLanes(b *testing.B) {
	var rows []lanesRow
	for _, lanes := range []int{1, 8, 32} {
		for instances := 1; instances <= 3; instances++ {
			b.Run(fmt.Sprintf("lanes=%d/instances=%d", lanes, instances), func(b *testing.B) {
				row := runOrderedLanes(b, lanes, instances, false)
				rows = append(rows, row)
				b.ReportMetric(row.rate, "events/s")
				b.ReportMetric(row.rate/(float64(lanes)*float64(time.Second)/float64(benchLatency)), "x_ceiling")
			})
		}
	}
	b.Run("lanes=32/instances=3/failing-key", func(b *testing.B) {
		row := runOrderedLanes(b, 32, 3, true)
		rows = append(rows, row)
		b.ReportMetric(row.rate, "events/s")
	})
	b.Log("\n" + lanesTable(rows))
}

// runOrderedLanes runs one row: the events are stored first; the rate is
// measured from the first delivery to the last of the keys that do not fail.
func runOrderedLanes(b *testing.B, lanes, instances int, failing bool) lanesRow {
	keys, perKey := 1000, 8
	switch lanes {
	case 1:
		keys, perKey = 250, 2
	case 8:
		keys, perKey = 1000, 2
	}
	url := pgtest.NewDatabase(b)
	publishOrdered(b, pgtest.PoolFor(b, url), "bench", keys, perKey)
	recv := newOrderReceiver(benchLatency)
	if failing {
		recv.failing.Store("k7")
	}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.ResetTimer()
	for range instances {
		r, err := router.New(router.Config{Backend: router.Postgres(pgtest.PoolFor(b, url))},
			orderedPipeline(b, "bench", srv.URL, lanes, benchLanesPerInstance))
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	want := keys * perKey
	if failing {
		want -= perKey
	}
	pipelinetest.WaitFor(b, 10*time.Minute, "the first delivery", func() bool { return recv.progress() > 0 })
	first := time.Now()
	start := recv.progress()
	pipelinetest.WaitFor(b, 10*time.Minute, "every event", func() bool { return recv.progress() >= want })
	elapsed := time.Since(first)
	b.StopTimer()
	cancel()
	wg.Wait()
	recv.mu.Lock()
	defer recv.mu.Unlock()
	return lanesRow{lanes: lanes, instances: instances, failing: failing,
		rate: float64(recv.delivered-start) / elapsed.Seconds(), violations: len(recv.violations)}
}

// lanesTable formats rows for docs/benchmarks.md.
func lanesTable(rows []lanesRow) string {
	perLane := float64(time.Second) / float64(benchLatency)
	var sb strings.Builder
	sb.WriteString("| lanes | instances | events/s | ceiling (lanes × 1/latency) | × ceiling | × one instance | order violations |\n")
	sb.WriteString("|---|---|---|---|---|---|---|\n")
	single := map[int]float64{}
	var plain, withFailure float64
	for _, r := range rows {
		switch {
		case r.failing:
			withFailure = r.rate
			continue
		case r.instances == 1:
			single[r.lanes] = r.rate
		}
		if r.lanes == 32 && r.instances == 3 {
			plain = r.rate
		}
		ceiling := float64(r.lanes) * perLane
		fmt.Fprintf(&sb, "| %d | %d | %.0f | %.0f | %.2f× | %.2f× | %d |\n", r.lanes, r.instances, r.rate, ceiling,
			r.rate/ceiling, r.rate/single[r.lanes], r.violations)
	}
	if withFailure > 0 && plain > 0 {
		fmt.Fprintf(&sb, "\nOne key failing (held back), lanes 32, 3 instances: the other keys' rate %.0f events/s vs %.0f without the failure (%.2f×).\n",
			withFailure, plain, withFailure/plain)
	}
	return sb.String()
}
