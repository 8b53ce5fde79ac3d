package router

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/tracing"
)

// prepareIngest makes the message to store from a source's message: the
// pipeline's metadata, an ingest span continuing the source's trace, and its
// dedup key. The caller ends the span.
func (r *Router) prepareIngest(p Pipeline, s Source, labels []string, msg *message.Message) (ingestItem, trace.Span) {
	r.metrics.EventsReceived.WithLabelValues(labels...).Inc()
	out := msg.Copy()
	out.Metadata.Set(tributary.MetaPipeline, p.Name)
	if out.Metadata.Get(tributary.MetaSource) == "" {
		out.Metadata.Set(tributary.MetaSource, s.Name)
	}
	if out.Metadata.Get(tributary.MetaEventID) == "" {
		out.Metadata.Set(tributary.MetaEventID, msg.UUID)
	}
	// A source whose provider sends no trace context (an event log, a
	// feed, a socket) gets a trace derived from the event id, so a
	// redelivered or re-read event keeps its trace. The ingest span
	// continues it; the stored event carries it, so every delivery attempt
	// is a child of it.
	if !tracing.Parse(out.Metadata.Get(tracing.MetaTraceparent)).IsValid() {
		out.Metadata.Set(tracing.MetaTraceparent, tracing.Format(tracing.ForEvent(tributary.EventID(out))))
	}
	ctx, span := r.tracer.Start(tracing.Extract(msg.Context(), out.Metadata), "ingest "+p.Name,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("tributary.pipeline", p.Name), attribute.String("tributary.source", s.Name),
			attribute.String("tributary.event_id", tributary.EventID(out))))
	tracing.Inject(ctx, out.Metadata)
	item := ingestItem{msg: out}
	if !p.Dedup.Disabled {
		item.key = tributary.DedupKey(tributary.EventID(out))
	}
	return item, span
}

// emit is the Emit the router gives a source: it stores the group in the
// pipeline's topic by one statement, in its order (its dedup keys commit
// with it, or nothing does: see ingestBatcher), and returns nil only once
// that committed, so a source's cursor never runs ahead of what is stored.
// An error means none of it is stored and the source hands the group on
// again. A message is a group of one.
func (r *Router) emit(p Pipeline, s Source, batcher *ingestBatcher) tributary.Emit {
	topic := Topic(p.Name)
	labels := []string{p.Name, s.Name}
	failures := newIngestBackoff()
	return func(ctx context.Context, msgs ...*message.Message) error {
		if len(msgs) == 0 {
			return nil
		}
		// The source's cancellation (its stop) does not cut a group off
		// mid-commit; the router's CloseTimeout does.
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer context.AfterFunc(r.work, cancel)()
		items := make([]ingestItem, len(msgs))
		spans := make([]trace.Span, len(msgs))
		for i, msg := range msgs {
			items[i], spans[i] = r.prepareIngest(p, s, labels, msg)
		}
		defer func() {
			for _, sp := range spans {
				sp.End()
			}
		}()
		stored, quarantined, err := batcher.ingestGroup(ctx, items)
		if err != nil {
			r.metrics.IngestFailed.WithLabelValues(labels...).Add(float64(len(msgs)))
			for _, sp := range spans {
				sp.SetStatus(codes.Error, err.Error())
			}
			wait, log, suppressed := failures.failed(err, time.Now())
			if log {
				fields := watermill.LogFields{"pipeline": p.Name, "source": s.Name, "events": len(msgs),
					"event_id": tributary.EventID(items[0].msg), "retry_in": wait.String(), "trace_id": traceID(items[0].msg)}
				if suppressed > 0 {
					fields["same_error_not_logged"] = suppressed
				}
				r.logger.Error("Ingest failed; the source will hand it on again", err, fields)
			}
			// Hold the group before handing it back, so that a source
			// handing it on again at once does not spin; a stopping router
			// does not wait.
			r.holdFailed(ctx, wait)
			return fmt.Errorf("ingest %d events into %s: %w", len(msgs), topic, err)
		}
		failures.succeeded()
		for i, why := range quarantined {
			r.quarantined(p, s, labels, msgs[i], items[i], spans[i], why)
		}
		r.countStored(labels, spans, stored)
		return nil
	}
}

// quarantined reports an event the backend refused for good (why is not
// ""): it is in the ingest quarantine and its source's message is acked,
// marked with MetaQuarantined so a source that answers a sender can say so.
func (r *Router) quarantined(p Pipeline, s Source, labels []string, msg *message.Message, item ingestItem, span trace.Span, why string) {
	if why == "" {
		return
	}
	msg.Metadata.Set(tributary.MetaQuarantined, why)
	span.SetStatus(codes.Error, "quarantined: "+why)
	r.metrics.EventsQuarantined.WithLabelValues(labels...).Inc()
	r.logger.Error("Event can never be stored; set aside in the ingest quarantine (tributary quarantine list)", nil,
		watermill.LogFields{"pipeline": p.Name, "source": s.Name, "event_id": printable(tributary.EventID(item.msg), 200),
			"reason": why, "trace_id": traceID(item.msg)})
}

// holdFailed holds a failed ingest for wait before the source gets its
// messages back, so that a source handing them on again at once does not
// spin; ctx ending or a stopping router cuts it short.
func (r *Router) holdFailed(ctx context.Context, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-r.stopping:
	}
}

// countStored marks each ingested message's span with whether it was a
// duplicate and counts the stored and the deduplicated ones.
func (r *Router) countStored(labels []string, spans []trace.Span, stored []bool) {
	var fresh int
	for i, ok := range stored {
		spans[i].SetAttributes(attribute.Bool("tributary.duplicate", !ok))
		if ok {
			fresh++
		}
	}
	if fresh > 0 {
		r.metrics.EventsIngested.WithLabelValues(labels...).Add(float64(fresh))
	}
	if fresh < len(stored) {
		r.metrics.EventsDeduped.WithLabelValues(labels...).Add(float64(len(stored) - fresh))
	}
}
