package webhook_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// BenchmarkRouterDeadEndpointIsolation runs the real router on Postgres: b.N
// events already in a pipeline's topic are delivered to a healthy webhook
// sink, once alone and once with a second sink in the same pipeline whose
// endpoint refuses every connection (default breaker, standard schedule:
// each of its messages fails, then is requeued). It reports the healthy
// sink's deliveries/s in both runs and ratio = beside/alone.
func BenchmarkRouterDeadEndpointIsolation(b *testing.B) {
	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	run := func(withDead bool) float64 {
		var got atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		pool := pgtest.NewPool(b)
		// Fill the topic first so that ingest is not what is measured.
		pub, err := router.Postgres(pool).Publisher(watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i += 100 {
			var batch []*message.Message
			for j := i; j < min(i+100, b.N); j++ {
				m := tributary.NewEventMessage("e-"+strconv.Itoa(j), benchPayload)
				m.Metadata.Set(tributary.MetaPipeline, "bench")
				batch = append(batch, m)
			}
			if err := pub.Publish(router.Topic("bench"), batch...); err != nil {
				b.Fatal(err)
			}
		}
		standard := &router.RetryPolicy{Schedule: middleware.StandardSchedule()}
		healthy := newSink(b, webhook.Config{URL: srv.URL, Secrets: []string{secretA}})
		sinks := []router.Sink{{Name: "healthy", Publisher: healthy, Retry: standard}}
		if withDead {
			dead := newSink(b, webhook.Config{URL: refused, Secrets: []string{secretA}})
			sinks = append(sinks, router.Sink{Name: "dead", Publisher: dead, Retry: standard})
		}
		r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
			Name: "bench", Sources: []router.Source{{Name: "none", Source: pipelinetest.NewEventSource()}}, Sinks: sinks,
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		stopRouter := pipelinetest.RunRouter(b, r)
		defer stopRouter()
		for got.Load() < int64(b.N) {
			time.Sleep(2 * time.Millisecond)
		}
		return float64(b.N) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	alone, beside := interleaved(func() float64 { return run(false) }, func() float64 { return run(true) })
	b.ReportMetric(alone, "alone_deliveries/s")
	b.ReportMetric(beside, "beside_dead_deliveries/s")
	b.ReportMetric(beside/alone, "ratio")
}
