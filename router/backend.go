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
	// ingest stores items in target's topic as one unit (a transaction for
	// Postgres): each item whose dedup key is new (or that has none) is
	// stored with its key; stored says which. Any error stores nothing.
	ingest(ctx context.Context, target ingestTarget, items []ingestItem) (stored []bool, err error)
	// ingestEach is ingest after an error that classifyUnstorable accepts:
	// it stores the items one by one, and sets each one it refuses for
	// good aside in the ingest quarantine (quarantined[i] says why), so
	// that one event cannot stop its source. An error is transient: the
	// source hands the items on again.
	ingestEach(ctx context.Context, target ingestTarget, items []ingestItem) (stored []bool, quarantined []string, err error)
	// deliverySubscriber reads a topic as consumer group `group`, handing
	// out up to concurrency messages at once.
	deliverySubscriber(group string, concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error)
	// retrySubscriber reads a sink's delayed retry topic.
	retrySubscriber(concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error)
	// retryPublisher publishes to a delayed retry topic (committed before msg is acked).
	retryPublisher(msg *message.Message, logger watermill.LoggerAdapter) (message.Publisher, error)
	poisonStore() middleware.PoisonStore
	// maintain prunes expired state; called periodically while the router runs.
	maintain(ctx context.Context, logger watermill.LoggerAdapter)
	close() error
}
