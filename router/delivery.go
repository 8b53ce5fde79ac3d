package router

import (
	"errors"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
)

// deliveryHandler delivers a topic message through one sink, wrapped —
// outermost first — in Poison, Requeue and Retry. Poison must wrap Requeue and
// Retry, or a failure would be poisoned before it is retried (watermill#645).
// The sink's filter runs first, so a message it turns down is simply acked;
// its transform runs on each attempt, inside the chain, so that a failure is
// poisoned like any permanent error.
func (r *Router) deliveryHandler(p Pipeline, s Sink) message.NoPublishHandlerFunc {
	labels := []string{p.Name, s.Name}
	logFields := watermill.LogFields{"pipeline": p.Name, "sink": s.Name}

	deliver := func(msg *message.Message) ([]*message.Message, error) {
		out := msg.Copy()
		out.SetContext(msg.Context())
		if s.Transform != nil {
			var err error
			if out, err = r.routeTransform(p, s, out); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		err := s.Publisher.Publish(s.Topic, out)
		r.metrics.DeliveryLatency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
		if err != nil {
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
			"event_id": tributary.EventID(msg), "retry": n, "err": err.Error(),
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
				"event_id": tributary.EventID(msg), "attempt": attempt, "wait": wait.String(), "err": err.Error(),
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
	filtered := r.metrics.Filtered.WithLabelValues(labels...)
	return func(msg *message.Message) error {
		cancel := r.detach(msg)
		defer cancel()
		if s.Filter != nil {
			ok, ferr := r.routeFilter(p, s, msg)
			if ferr != nil {
				_, err := poison.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, ferr })(msg)
				return err
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
