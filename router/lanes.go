package router

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router/leader"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// FailurePolicy is what a failed delivery of an ordered sink (Sink.OrderKey)
// does to the events of its key.
type FailurePolicy string

const (
	// Hold keeps the failed event, and every later event of its key, back
	// until the event succeeds (retried on the sink's schedule) or is
	// poisoned; other keys go on. The default.
	Hold FailurePolicy = "hold"
	// Requeue moves the failed event onto the sink's retry topic, as for an
	// unordered sink: its key moves on, and the event arrives later, out of
	// its key's order.
	Requeue FailurePolicy = "requeue"
)

// DefaultLanes is an ordered sink's lane count when Sink.Lanes is zero.
const DefaultLanes = 16

// laneWorkers is how many lanes an ordered sink works at once in one
// instance.
func laneWorkers(s Sink) int {
	switch {
	case s.Concurrency > 0:
		return s.Concurrency
	case s.Lanes > 0:
		return s.Lanes
	}
	return DefaultLanes
}

// laneBackend is a backend that delivers ordered sinks.
type laneBackend interface {
	// laneSubscriber reads a topic as sink s's consumer group in s.Lanes
	// lanes keyed by s.OrderKey, working up to s.Concurrency lanes here.
	laneSubscriber(s Sink, owner string, logger watermill.LoggerAdapter) (message.Subscriber, error)
}

// ErrOrderingUnsupported is returned by New for a sink with an OrderKey on a
// backend that cannot keep order per key (JetStream, Memory).
var ErrOrderingUnsupported = errors.New("ordered delivery (order_by) needs the Postgres backend")

// checkOrdering reports ordered sinks the backend cannot serve.
func checkOrdering(b Backend, pipelines []Pipeline) error {
	if _, ok := b.(laneBackend); ok {
		return nil
	}
	var errs []error
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			if s.OrderKey == nil {
				continue
			}
			why := ""
			if _, ok := b.(*JetStreamBackend); ok {
				why = ": " + jetStreamNoLanes
			}
			errs = append(errs, fmt.Errorf("pipeline %q: sink %q: %w%s", p.Name, s.Name, ErrOrderingUnsupported, why))
		}
	}
	return errors.Join(errs...)
}

// jetStreamNoLanes says why the JetStream backend has no ordered lanes.
const jetStreamNoLanes = "a JetStream consumer keeps order only with one message outstanding (MaxAckPending 1), " +
	"for the whole stream; order per key with keys in parallel needs the stream split by key when it is published " +
	"(subject partitions), a partition count fixed for the stream's life, and a consumer per partition with an owner " +
	"of its own, which this backend does not build (see docs/ordering.md)"

// laneOwner names this router's lane claims in tributary_lanes: the
// instance id (as `tributary status` lists it) and a random suffix, so that
// two sinks' subscribers never share claims.
func (r *Router) laneOwner() string {
	inst := ""
	if r.cfg.Leadership != nil {
		inst = r.cfg.Leadership.Instance
	}
	if inst == "" {
		host, _ := os.Hostname()
		inst = leader.NewInstanceID(host)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return inst + "/" + hex.EncodeToString(b)
}

// orderKeyError is the error of an event whose order key could not be
// computed (pgtopic.MetaOrderKeyError), "" when there is none.
func orderKeyError(msg *message.Message) error {
	if e := msg.Metadata.Get(pgtopic.MetaOrderKeyError); e != "" {
		return middleware.Permanent(fmt.Errorf("order key: %s", e))
	}
	return nil
}

func (b *PostgresBackend) laneSubscriber(s Sink, owner string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	b.start()
	cfg := pgtopic.LaneConfig{SubscriberConfig: b.subscriberConfig(s.Name, s.Concurrency), Lanes: s.Lanes, Key: s.OrderKey}
	cfg.Owner = owner
	return pgtopic.NewLaneSubscriber(b.Pool, cfg, logger)
}
