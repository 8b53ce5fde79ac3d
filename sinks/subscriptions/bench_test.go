package subscriptions_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// BenchmarkHungEndpointAmongHealthy measures what one hung endpoint costs
// 100 healthy ones in the same sink: events are fanned out at a steady pace
// to the 100 healthy endpoints alone, then with a 101st whose receiver never
// answers (each attempt times out), and the healthy endpoints' p99 delivery
// latency (fan-out to receipt) of the two runs is compared. Run it with
// -benchtime=1x.
func BenchmarkHungEndpointAmongHealthy(b *testing.B) {
	// Three pairs, interleaved, and their medians: on a shared machine one
	// run's p99 swings by 2× either way.
	for b.Loop() {
		var alone, withHung, ratio []float64
		for range 3 {
			a, h := hungRun(b, false).Seconds()*1000, hungRun(b, true).Seconds()*1000
			alone, withHung, ratio = append(alone, a), append(withHung, h), append(ratio, h/a)
		}
		median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
		b.ReportMetric(median(alone), "p99-ms-alone")
		b.ReportMetric(median(withHung), "p99-ms-with-hung")
		b.ReportMetric(median(ratio), "p99-ratio")
	}
}

func hungRun(b *testing.B, hung bool) time.Duration {
	const healthy, events = 100, 60
	pool := pgtest.NewPool(b)
	store := subscriptions.NewStore(pool)
	var mu sync.Mutex
	var lat []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Sent int64 }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		lat = append(lat, time.Since(time.Unix(0, ev.Sent)))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(stop)
	sink := newSink(b, pool, "hung", func(c *subscriptions.Config) {
		c.Timeout, c.Retry, c.PollInterval = 2*time.Second, "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s", 50*time.Millisecond
	})
	n := healthy
	if hung {
		n++
		addEndpoint(b, store, subscriptions.Endpoint{ID: "ep_hung", Pipeline: "hung", URL: hang.URL, Types: []string{"comment.created"}, Token: "t"})
	}
	for i := range healthy {
		addEndpoint(b, store, subscriptions.Endpoint{ID: "ep_" + strconv.Itoa(i), Pipeline: "hung", URL: srv.URL + "/" + strconv.Itoa(i),
			Types: []string{"comment.created"}, Token: "t"})
	}
	pipelinetest.WaitFor(b, 30*time.Second, "the index", func() bool { ids, _ := sink.Endpoints(); return len(ids) == n })
	for i := range events {
		payload := map[string]any{"sent": time.Now().UnixNano()}
		if err := sink.Publish("hooks", event(fmt.Sprintf("h%d", i), "comment.created", payload)); err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pipelinetest.WaitFor(b, 120*time.Second, "every healthy delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lat) >= healthy*events
	})
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	b.Logf("hung=%v: %d healthy deliveries, p50 %s, p99 %s", hung, len(lat), lat[len(lat)/2], p99)
	return p99
}
