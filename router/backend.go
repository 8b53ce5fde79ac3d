package router

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
)

// Backend holds a pipeline's topics and the state its middleware keeps: the
// durable Postgres backend, or the in-memory one for unit tests. A Router has
// no default backend, so a durable pipeline can never silently run in memory.
type Backend interface {
	// init prepares the topics of the given pipelines.
	// closeTimeout is how long a stopping consumer waits for its deliveries.
	init(ctx context.Context, pipelines []Pipeline, logger watermill.LoggerAdapter, closeTimeout time.Duration) error
	// ingest runs every fn in one unit of work (a transaction for Postgres)
	// with a publisher bound to it; ctx carries the transaction for the
	// middleware. Any error rolls the whole unit back. Every fn publishes
	// into topic only.
	ingest(ctx context.Context, topic string, fns ...ingestFunc) error
	// deliverySubscriber reads a topic as consumer group `group`.
	deliverySubscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error)
	// retrySubscriber reads a sink's delayed retry topic.
	retrySubscriber(logger watermill.LoggerAdapter) (message.Subscriber, error)
	// retryPublisher publishes to a delayed retry topic (committed before msg is acked).
	retryPublisher(msg *message.Message, logger watermill.LoggerAdapter) (message.Publisher, error)
	dedupStore() middleware.DedupStore
	poisonStore() middleware.PoisonStore
	// maintain prunes expired state; called periodically while the router runs.
	maintain(ctx context.Context, logger watermill.LoggerAdapter)
	close() error
}
