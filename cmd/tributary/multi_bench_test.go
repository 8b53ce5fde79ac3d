package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// BenchmarkInstances measures delivery throughput (events stored in the
// topic → delivered by the webhook sink to a loopback receiver) with 1, 2
// and 3 instances of the binary on one database, in the same run. Each
// sub-benchmark delivers 3,000 events whatever b.N is (the task's
// -benchtime 2000x must not mean six million); read events/s, not ns/op.
//
//	go test -run '^$' -bench Instances -benchtime 1x ./cmd/tributary/
func BenchmarkInstances(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			benchInstances(b, n, 3000)
		})
	}
}

func benchInstances(b *testing.B, instances, events int) {
	dbURL := pgtest.NewDatabase(b)
	pool := pgtest.PoolFor(b, dbURL)
	var mu sync.Mutex
	got := map[string]bool{}
	all := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")] = true
		if len(got) == events {
			close(all)
		}
		mu.Unlock()
	}))
	defer recv.Close()
	var procs []*benchProc
	for i := range instances {
		procs = append(procs, startBenchInstance(b, dbURL, recv.URL, i))
	}
	for _, p := range procs {
		p.waitReady(b)
	}
	b.ResetTimer()
	start := time.Now()
	pub := pgtopic.NewPublisher(pool)
	for i := 0; i < events; i += 500 {
		var msgs []*message.Message
		for j := i; j < min(i+500, events); j++ {
			m := message.NewMessage(fmt.Sprintf("bench-%06d", j), []byte(`{"n":1}`))
			m.Metadata.Set(tributary.MetaEventID, m.UUID)
			msgs = append(msgs, m)
		}
		if err := pub.Publish(router.Topic("bench"), msgs...); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d delivered", len(got), events)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.Logf("%d instances: %d events delivered in %v (%.0f events/s)", instances, events, elapsed.Round(time.Millisecond), float64(events)/elapsed.Seconds())
	for _, p := range procs {
		p.stop(b)
	}
}

type benchProc struct {
	*started
	metrics string
}

func startBenchInstance(b *testing.B, dbURL, recvURL string, i int) *benchProc {
	t := b
	env := []string{"DATABASE_URL=" + dbURL, "TRIBUTARY_RECEIVER_URL=" + recvURL, "WEBHOOKIN_LISTEN=" + freeAddr(t)}
	if i == 0 {
		migrate(t, env)
	}
	m := freeAddr(t)
	p := start(t, env, "run", "-c", filepath.Join("testdata", "bench_instances.yaml"), "--metrics-addr", m)
	return &benchProc{started: p, metrics: m}
}

func (p *benchProc) waitReady(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := http.Get("http://" + p.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("instance not ready:\n%s", tail(p.stderr.String(), 2000))
}

func (p *benchProc) stop(b *testing.B) { p.started.stop(b) }
