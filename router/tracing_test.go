package router_test

import (
	"github.com/tributary-dev/tributary"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/sources/webhookin"
	"github.com/tributary-dev/tributary/tracing"
)

// TestTraceFromWebhookToWebhook: an event posted with a traceparent is
// ingested under an ingest span and delivered under a delivery-attempt span
// (one per attempt: the receiver fails the first), all in the sender's
// trace, and each request to the receiver carries a traceparent of that
// trace whose parent is that attempt's span.
func TestTraceFromWebhookToWebhook(t *testing.T) {
	t.Parallel()
	const sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var (
		mu       sync.Mutex
		received []string
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		received = append(received, r.Header.Get("traceparent"))
		if len(received) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(rc.Close)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	in, err := webhookin.NewSource(webhookin.Config{AllowUnauthenticated: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook, err := webhook.NewPublisher(webhook.Config{URL: rc.URL, AllowPrivateNetworks: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Backend: router.Memory(), TracerProvider: tp}, router.Pipeline{
		Name:    "traced",
		Sources: []router.Source{{Name: "inbound", Source: tributary.FromSubscriber(in, "inbound")}},
		Sinks:   []router.Sink{{Name: "hook", Publisher: hook}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	<-r.Running()
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"id":"evt-1","type":"door.opened"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", sent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("inbound webhook answered %d", resp.StatusCode)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "a second, successful attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == 2
	})
	// The attempt's span ends once Publish returned.
	pipelinetest.WaitFor(t, 5*time.Second, "three spans", func() bool { return len(exp.GetSpans()) == 3 })

	want := tracing.Parse(sent)
	var ingest trace.SpanContext
	var attempts []trace.SpanContext
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() != want.TraceID() {
			t.Errorf("span %q is in trace %s, want the sender's %s", s.Name, s.SpanContext.TraceID(), want.TraceID())
		}
		switch s.Name {
		case "ingest traced":
			ingest = s.SpanContext
			if s.Parent.SpanID() != want.SpanID() {
				t.Errorf("ingest span's parent %s, want the sender's span %s", s.Parent.SpanID(), want.SpanID())
			}
		case "deliver traced/hook":
			attempts = append(attempts, s.SpanContext)
		default:
			t.Errorf("unexpected span %q", s.Name)
		}
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "deliver traced/hook" && s.Parent.SpanID() != ingest.SpanID() {
			t.Errorf("delivery span's parent %s, want the ingest span %s", s.Parent.SpanID(), ingest.SpanID())
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("%d delivery-attempt spans, want 2", len(attempts))
	}
	mu.Lock()
	defer mu.Unlock()
	for i, h := range received {
		got := tracing.Parse(h)
		if got.TraceID() != want.TraceID() || got.SpanID() != attempts[i].SpanID() {
			t.Errorf("request %d: traceparent %q, want trace %s under attempt span %s", i+1, h, want.TraceID(), attempts[i].SpanID())
		}
	}
}
