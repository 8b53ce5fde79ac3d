package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-dev/tributary/tracing"
)

const w3cExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestMetadataCarriesOnlyWellFormedContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, traceparent, tracestate string
		valid                         bool
		wantState                     string
	}{
		{"W3C example", w3cExample, "vendor=abc", true, "vendor=abc"},
		{"none", "", "", false, ""},
		{"short", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "", false, ""},
		{"upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", false, ""},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", false, ""},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", false, ""},
		{"header injection", w3cExample + "\r\nX-Evil: 1", "", false, ""},
		{"malformed tracestate dropped, parent kept", w3cExample, "not a list\r\n", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := message.Metadata{tracing.MetaTraceparent: tt.traceparent, tracing.MetaTracestate: tt.tracestate}
			out := message.Metadata{}
			tracing.Inject(tracing.Extract(context.Background(), in), out)
			if got := out[tracing.MetaTraceparent] != ""; got != tt.valid {
				t.Fatalf("passed on %q: %v, want %v", out[tracing.MetaTraceparent], got, tt.valid)
			}
			if tt.valid && out[tracing.MetaTraceparent] != tt.traceparent {
				t.Errorf("traceparent %q, want %q", out[tracing.MetaTraceparent], tt.traceparent)
			}
			if out[tracing.MetaTracestate] != tt.wantState {
				t.Errorf("tracestate %q, want %q", out[tracing.MetaTracestate], tt.wantState)
			}
		})
	}
}

func TestForEventIsStableAndNew(t *testing.T) {
	t.Parallel()
	a, b := tracing.ForEvent("evt-1"), tracing.ForEvent("evt-1")
	if !a.IsValid() || !a.Equal(b) || a.Equal(tracing.ForEvent("evt-2")) || !a.IsSampled() {
		t.Fatalf("ForEvent: %v, %v", a, b)
	}
	n := tracing.New()
	if !n.IsValid() || n.Equal(tracing.New()) || !tracing.Parse(tracing.Format(n)).Equal(n.WithRemote(true)) {
		t.Fatalf("New/Format/Parse: %v", n)
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(tracing.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	sc := tracing.Parse(w3cExample)
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "with span")
	log.InfoContext(context.Background(), "without")
	dec := json.NewDecoder(&buf)
	var withSpan, without map[string]any
	if err := dec.Decode(&withSpan); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&without); err != nil {
		t.Fatal(err)
	}
	if withSpan["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || withSpan["span_id"] != "00f067aa0ba902b7" || withSpan["component"] != "test" {
		t.Errorf("line with a span: %v", withSpan)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("line without a span has a trace id: %v", without)
	}
}
