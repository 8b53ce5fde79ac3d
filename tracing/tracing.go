// Package tracing carries W3C trace context (https://www.w3.org/TR/trace-context/)
// through Tributary with OpenTelemetry. The context travels in message
// metadata under the headers' own names (traceparent, tracestate): a source
// that receives one (an inbound webhook) or starts one stores it there, the
// router starts an ingest span and a span per delivery attempt under it and
// writes each into the metadata it hands on, and an HTTP sink sends it as the
// traceparent header, so the receiver's spans join the source's trace.
//
// Parsing and formatting are otel's (propagation.TraceContext): a malformed
// traceparent is never passed on.
//
//	ctx := tracing.Extract(context.Background(), msg.Metadata)
//	ctx, span := tracer.Start(ctx, "work")
//	defer span.End()
//	tracing.Inject(ctx, out.Metadata)
package tracing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Metadata keys of the trace context: the W3C header names.
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
)

// Propagator reads and writes the W3C traceparent and tracestate, in
// message metadata and in HTTP headers alike.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Extract returns ctx carrying the span context md holds, as a remote
// parent; ctx unchanged when md holds none or a malformed one.
func Extract(ctx context.Context, md message.Metadata) context.Context {
	return Propagator.Extract(ctx, propagation.MapCarrier(md))
}

// Inject writes the span context of ctx into md; md is left as it is when
// ctx carries no valid span context.
func Inject(ctx context.Context, md message.Metadata) {
	Propagator.Inject(ctx, propagation.MapCarrier(md))
}

// SpanContext returns the span context md holds; not valid when md holds
// none or a malformed one.
func SpanContext(md message.Metadata) trace.SpanContext {
	return trace.SpanContextFromContext(Extract(context.Background(), md))
}

// Parse returns the span context of a traceparent header value; not valid
// when s is malformed.
func Parse(traceparent string) trace.SpanContext {
	return SpanContext(message.Metadata{MetaTraceparent: traceparent})
}

// Format returns the traceparent header value of sc ("" when sc is not
// valid).
func Format(sc trace.SpanContext) string {
	md := message.Metadata{}
	Inject(trace.ContextWithSpanContext(context.Background(), sc), md)
	return md[MetaTraceparent]
}

// New returns a sampled span context with random ids: the start of a trace
// for an event that arrives without one.
func New() trace.SpanContext {
	var b [24]byte
	for {
		_, _ = rand.Read(b[:])
		if sc := fromBytes(b); sc.IsValid() {
			return sc
		}
	}
}

// ForEvent returns the span context an event without trace context is
// given: derived from its id, so that a redelivered or re-read event keeps
// its trace, which makes a duplicate easy to follow.
func ForEvent(eventID string) trace.SpanContext {
	sum := sha256.Sum256([]byte("tributary-trace:" + eventID))
	if sc := fromBytes([24]byte(sum[:24])); sc.IsValid() {
		return sc
	}
	return New() // an all-zero id: astronomically unlikely, still never invalid
}

func fromBytes(b [24]byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID(b[:16]),
		SpanID:     trace.SpanID(b[16:]),
		TraceFlags: trace.FlagsSampled,
	})
}

// LogHandler adds trace_id and span_id to every record logged with a
// context that carries a valid span context (slog's …Context methods).
type LogHandler struct {
	slog.Handler
}

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{Handler: h} }

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithGroup(name)}
}
