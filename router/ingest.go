package router

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/middleware"
)

// ingestHandler moves a source's message into the pipeline's topic. Dedup and
// the publish run in one transaction: the dedup key commits with the stored
// event or not at all. Returning nil acks the source's message, which happens
// only after that commit, so a source's cursor never runs ahead of what is
// stored.
func (r *Router) ingestHandler(p Pipeline, s Source, batcher *ingestBatcher) message.NoPublishHandlerFunc {
	topic := Topic(p.Name)
	labels := []string{p.Name, s.Name}
	store := func(msg *message.Message) ([]*message.Message, error) {
		return nil, r.publishCtx(msg, topic)
	}
	handler := store
	if !p.Dedup.Disabled {
		handler = middleware.Dedup{
			Store:    r.cfg.Backend.dedupStore(),
			Pipeline: p.Name,
			TTL:      p.Dedup.TTL,
		}.Middleware(store)
	}
	failures := newIngestBackoff()
	return func(msg *message.Message) error {
		cancel := r.detach(msg)
		defer cancel()
		metrics.EventsReceived.WithLabelValues(labels...).Inc()
		out := msg.Copy()
		out.Metadata.Set(tributary.MetaPipeline, p.Name)
		if out.Metadata.Get(tributary.MetaSource) == "" {
			out.Metadata.Set(tributary.MetaSource, s.Name)
		}
		if out.Metadata.Get(tributary.MetaEventID) == "" {
			out.Metadata.Set(tributary.MetaEventID, msg.UUID)
		}
		st := &ingestState{}
		err := batcher.ingest(msg.Context(), func(ctx context.Context, pub message.Publisher) error {
			st.pub, st.stored = pub, false
			out.SetContext(context.WithValue(ctx, ingestKey{}, st))
			_, err := handler(out)
			return err
		})
		if err != nil {
			metrics.IngestFailed.WithLabelValues(labels...).Inc()
			wait, log, suppressed := failures.failed(err, time.Now())
			if log {
				fields := watermill.LogFields{"pipeline": p.Name, "source": s.Name,
					"event_id": tributary.EventID(out), "retry_in": wait.String()}
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
		if st.stored {
			metrics.EventsIngested.WithLabelValues(labels...).Inc()
		} else {
			metrics.EventsDeduped.WithLabelValues(labels...).Inc()
		}
		return nil
	}
}

// ingestState travels in the ingest context: the publisher bound to the
// transaction, and whether the event was stored or dropped as a duplicate.
type ingestState struct {
	pub    message.Publisher
	stored bool
}

type ingestKey struct{}

// publishCtx publishes msg with the publisher bound to its ingest transaction.
func (r *Router) publishCtx(msg *message.Message, topic string) error {
	st := msg.Context().Value(ingestKey{}).(*ingestState)
	if err := st.pub.Publish(topic, msg); err != nil {
		return err
	}
	st.stored = true
	return nil
}
