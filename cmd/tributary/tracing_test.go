package main_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/tracing"
)

// otlpSpan is what the loopback OTLP receiver keeps of a span.
type otlpSpan struct{ name, traceID, spanID, parentID string }

// otlpReceiver is a loopback OTLP/HTTP traces endpoint (POST /v1/traces,
// protobuf), as a collector would serve.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "want a protobuf ExportTraceServiceRequest on POST /v1/traces", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					rc.spans = append(rc.spans, otlpSpan{name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
						spanID: hex.EncodeToString(s.GetSpanId()), parentID: hex.EncodeToString(s.GetParentSpanId())})
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *otlpReceiver) all() []otlpSpan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]otlpSpan(nil), rc.spans...)
}

// TestBinaryExportsTracesOverOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, run
// exports an ingest span and a delivery-attempt span per event to the OTLP
// receiver, in the trace the event's traceparent names, and the webhook the
// receiver got carries that trace with the attempt's span as parent.
func TestBinaryExportsTracesOverOTLP(t *testing.T) {
	t.Parallel()
	otlp := newOTLPReceiver(t)
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL}
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	simAddr := freeAddr(t)
	sim := start(t, env, "simulate", "--addr", simAddr)
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	base := "http://" + simAddr
	file := filepath.Join(t.TempDir(), "p.yaml")
	const n = 3
	yaml := fmt.Sprintf(`pipelines:
  - name: traced
    sources: [{ name: gen, type: generator, options: { count: %d, interval: 10ms, prefix: tr } }]
    sinks: [{ name: hook, type: http, options: { url: "%s/webhook" } }]
`, n, base)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := start(t, env, "run", "-c", file, "--metrics-addr", "")
	waitFor(t, 60*time.Second, "every event at the receiver", func() bool { return len(getReceived(t, base)) >= n })
	run.stop(t) // flushes the batched spans

	byID := map[string]otlpSpan{}
	for _, s := range otlp.all() {
		byID[s.spanID] = s
	}
	for _, r := range getReceived(t, base) {
		sent := tracing.Parse(r.Traceparent)
		if !sent.IsValid() {
			t.Fatalf("receiver got no traceparent: %+v", r)
		}
		attempt, ok := byID[sent.SpanID().String()]
		if !ok || attempt.name != "deliver traced/hook" || attempt.traceID != sent.TraceID().String() {
			t.Fatalf("event %s: the request's parent span %s is no exported delivery attempt of its trace (%+v)", r.EventID, sent.SpanID(), attempt)
		}
		ingest, ok := byID[attempt.parentID]
		if !ok || ingest.name != "ingest traced" || ingest.traceID != attempt.traceID {
			t.Fatalf("event %s: the attempt's parent %s is no exported ingest span of its trace (%+v)", r.EventID, attempt.parentID, ingest)
		}
	}
}
