package router_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestTwoRoutersShareARegistererWithoutSharingSeries: two routers in one
// process register on one Registerer, each with a pipeline whose source and
// webhook sink have the same names as the other's. Every series (the
// router's and the sink's own) is told apart by pipeline, and nothing lands
// on Prometheus's default registry.
func TestTwoRoutersShareARegistererWithoutSharingSeries(t *testing.T) {
	t.Parallel()
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { received.Add(1) }))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	events := map[string][]string{"east": pipelinetest.EventIDs("e", 2), "west": pipelinetest.EventIDs("w", 3)}
	for _, name := range []string{"east", "west"} {
		hook, err := webhook.NewPublisher(webhook.Config{URL: srv.URL, AllowPrivateNetworks: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := router.New(router.Config{Backend: router.Memory(), Metrics: reg}, router.Pipeline{
			Name:    name,
			Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(events[name]...)}},
			Sinks:   []router.Sink{{Name: "hook", Publisher: hook}},
		})
		if err != nil {
			t.Fatal(err)
		}
		pipelinetest.RunRouter(t, r)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "every event delivered", func() bool {
		return pipelinetest.MetricValue(t, reg, "tributary_events_delivered_total") == 5
	})
	if received.Load() != 5 {
		t.Errorf("receiver got %d requests, want 5", received.Load())
	}
	for _, tt := range []struct {
		metric string
		kv     []string
	}{
		{"tributary_events_received_total", []string{"source", "src"}},
		{"tributary_events_ingested_total", []string{"source", "src"}},
		{"tributary_events_delivered_total", []string{"sink", "hook"}},
		{"tributary_webhook_attempts_total", []string{"sink", "hook", "outcome", "success"}},
	} {
		for name, ids := range events {
			if got := pipelinetest.MetricValue(t, reg, tt.metric, append([]string{"pipeline", name}, tt.kv...)...); got != float64(len(ids)) {
				t.Errorf("%s{pipeline=%q, %v} = %v, want %d", tt.metric, name, tt.kv, got, len(ids))
			}
		}
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "tributary_") {
			t.Errorf("%s is on the default registry", mf.GetName())
		}
	}
}
