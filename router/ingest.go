package router

import (
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

// ingestHandler moves a source's message into the pipeline's topic. Its
// dedup key and the message commit together, or neither does (see
// ingestBatcher). Returning nil acks the source's message, which happens
// only after that commit, so a source's cursor never runs ahead of what is
// stored.
func (r *Router) ingestHandler(p Pipeline, s Source, batcher *ingestBatcher) message.NoPublishHandlerFunc {
	topic := Topic(p.Name)
	labels := []string{p.Name, s.Name}
	failures := newIngestBackoff()
	return func(msg *message.Message) error {
		cancel := r.detach(msg)
		defer cancel()
		r.metrics.EventsReceived.WithLabelValues(labels...).Inc()
		out := msg.Copy()
		out.Metadata.Set(tributary.MetaPipeline, p.Name)
		if out.Metadata.Get(tributary.MetaSource) == "" {
			out.Metadata.Set(tributary.MetaSource, s.Name)
		}
		if out.Metadata.Get(tributary.MetaEventID) == "" {
			out.Metadata.Set(tributary.MetaEventID, msg.UUID)
		}
		// The ingest span continues the source's trace; the stored event
		// carries it, so every delivery attempt is a child of it.
		ctx, span := r.tracer.Start(tracing.Extract(msg.Context(), msg.Metadata), "ingest "+p.Name,
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
				attribute.String("tributary.pipeline", p.Name), attribute.String("tributary.source", s.Name),
				attribute.String("tributary.event_id", tributary.EventID(out))))
		defer span.End()
		tracing.Inject(ctx, out.Metadata)
		item := ingestItem{msg: out}
		if !p.Dedup.Disabled {
			item.key = tributary.EventID(out)
		}
		stored, err := batcher.ingest(msg.Context(), item)
		if err != nil {
			r.metrics.IngestFailed.WithLabelValues(labels...).Inc()
			span.SetStatus(codes.Error, err.Error())
			wait, log, suppressed := failures.failed(err, time.Now())
			if log {
				fields := watermill.LogFields{"pipeline": p.Name, "source": s.Name,
					"event_id": tributary.EventID(out), "retry_in": wait.String(), "trace_id": traceID(out)}
				if suppressed > 0 {
					fields["same_error_not_logged"] = suppressed
				}
				r.logger.Error("Ingest failed; the source will redeliver", err, fields)
			}
			// Hold the message before handing it back, so that a source
			// redelivering at once does not spin; a stopping router does
			// not wait.
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-msg.Context().Done():
			case <-r.stopping:
			}
			t.Stop()
			return fmt.Errorf("ingest into %s: %w", topic, err)
		}
		failures.succeeded()
		span.SetAttributes(attribute.Bool("tributary.duplicate", !stored))
		if stored {
			r.metrics.EventsIngested.WithLabelValues(labels...).Inc()
		} else {
			r.metrics.EventsDeduped.WithLabelValues(labels...).Inc()
		}
		return nil
	}
}
