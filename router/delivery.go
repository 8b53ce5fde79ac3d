package router

import (
	"errors"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/tracing"
)

// traceID is the trace id of the event msg carries, for log lines ("" when
// it carries none).
func traceID(msg *message.Message) string {
	if sc := tracing.SpanContext(msg.Metadata); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// deliveryHandler delivers a topic message through one sink, wrapped —
// outermost first — in Poison, Requeue and Retry. Poison must wrap Requeue and
// Retry, or a failure would be poisoned before it is retried (watermill#645).
// In an ordered sink's lanes (ordered, with OnFailure Hold) Hold takes
// Requeue's place, and an event whose order key failed is poisoned.
// The sink's filter runs first, so a message it turns down is simply acked;
// its transform runs on each attempt, inside the chain, so that a failure is
// poisoned like any permanent error.
func (r *Router) deliveryHandler(p Pipeline, s Sink, ordered bool) message.NoPublishHandlerFunc {
	labels := []string{p.Name, s.Name}
	logFields := watermill.LogFields{"pipeline": p.Name, "sink": s.Name}

	// Each attempt (in process or requeued) is a span, a child of the
	// event's ingest span; the sink gets it in the message's context and
	// metadata, so an HTTP sink sends it as the receiver's parent.
	deliver := func(msg *message.Message) ([]*message.Message, error) {
		ctx, span := r.tracer.Start(tracing.Extract(msg.Context(), msg.Metadata), "deliver "+p.Name+"/"+s.Name,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
				attribute.String("tributary.pipeline", p.Name), attribute.String("tributary.sink", s.Name),
				attribute.String("tributary.event_id", tributary.EventID(msg))))
		defer span.End()
		out := msg.Copy()
		out.SetContext(ctx)
		if s.Transform != nil {
			var err error
			if out, err = r.routeTransform(p, s, out); err != nil {
				span.SetStatus(codes.Error, err.Error())
				return nil, err
			}
		}
		out.SetContext(ctx)
		tracing.Inject(ctx, out.Metadata)
		start := time.Now()
		err := s.Publisher.Publish(s.Topic, out)
		r.metrics.DeliveryLatency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			r.metrics.DeliveryFailed.WithLabelValues(labels...).Inc()
			return nil, err
		}
		r.metrics.Delivered.WithLabelValues(labels...).Inc()
		return nil, nil
	}

	retry := *s.Retry.InProcess
	retry.OnRetry = func(msg *message.Message, n int, err error) {
		r.metrics.Retried.WithLabelValues(p.Name, s.Name, "in_process").Inc()
		r.logger.Debug("Retrying delivery", logFields.Add(watermill.LogFields{
			"event_id": tributary.EventID(msg), "retry": n, "err": err.Error(), "trace_id": traceID(msg),
		}))
	}
	requeue := middleware.Requeue{
		Schedule: s.Retry.Schedule,
		Topic:    RetryTopic(p.Name, s.Name),
		Publisher: func(msg *message.Message) (message.Publisher, error) {
			return r.cfg.Backend.retryPublisher(msg, r.logger)
		},
		OnRequeue: func(msg *message.Message, attempt int, wait time.Duration, err error) {
			r.metrics.Retried.WithLabelValues(p.Name, s.Name, "requeued").Inc()
			r.logger.Info("Delivery failed; requeued", logFields.Add(watermill.LogFields{
				"event_id": tributary.EventID(msg), "attempt": attempt, "wait": wait.String(), "err": err.Error(), "trace_id": traceID(msg),
			}))
		},
	}
	poison := middleware.Poison{
		Store:    r.cfg.Backend.poisonStore(),
		Pipeline: p.Name,
		Sink:     s.Name,
		OnPoison: func(rec middleware.PoisonRecord) {
			r.metrics.Poisoned.WithLabelValues(p.Name, s.Name).Inc()
			r.logger.Error("Delivery given up; message poisoned", errors.New(rec.Reason), logFields.Add(watermill.LogFields{
				"event_id": rec.EventID, "attempts": strconv.Itoa(rec.Attempts),
			}))
		},
	}
	h := poison.Middleware(requeue.Middleware(retry.Middleware(deliver)))
	if ordered && s.OnFailure == Hold {
		hold := middleware.Hold{
			Schedule: s.Retry.Schedule,
			OnHold: func(msg *message.Message, attempt int, wait time.Duration, err error) {
				r.metrics.Retried.WithLabelValues(p.Name, s.Name, "held").Inc()
				r.logger.Info("Delivery failed; its key is held back", logFields.Add(watermill.LogFields{
					"event_id": tributary.EventID(msg), "attempt": attempt, "wait": wait.String(), "err": err.Error(), "trace_id": traceID(msg),
				}))
			},
		}
		h = poison.Middleware(hold.Middleware(retry.Middleware(deliver)))
	}
	filtered := r.metrics.Filtered.WithLabelValues(labels...)
	// poisonWith poisons msg with an error of its own (it cannot be routed).
	poisonWith := func(msg *message.Message, cause error) error {
		_, err := poison.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, cause })(msg)
		return err
	}
	return func(msg *message.Message) error {
		cancel := r.detach(msg)
		defer cancel()
		if kerr := orderKeyError(msg); ordered && kerr != nil {
			return poisonWith(msg, kerr)
		}
		if s.Filter != nil {
			ok, ferr := r.routeFilter(p, s, msg)
			if ferr != nil {
				return poisonWith(msg, ferr)
			}
			if !ok {
				filtered.Inc()
				return nil
			}
		}
		_, err := h(msg)
		return err
	}
}
