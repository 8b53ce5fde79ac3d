package pipelinetest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/store"
)

// TopicIDs lists the event ids stored in the pipeline's topic, in topic
// order, repeats included.
func TopicIDs(tb testing.TB, pool *pgxpool.Pool, pipeline string) []string {
	tb.Helper()
	ids, err := store.MessageEventIDs(context.Background(), pool, router.Topic(pipeline))
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// TopicCount counts the rows of the pipeline's topic holding one of ids.
// It returns its error, rather than failing a test, so that it can run off
// the test's goroutine.
func TopicCount(ctx context.Context, pool *pgxpool.Pool, pipeline string, ids []string) (int, error) {
	if ids == nil {
		ids = []string{}
	}
	return store.CountMessages(ctx, pool, router.Topic(pipeline), ids)
}

// TopicRows counts all rows of the pipeline's topic.
func TopicRows(tb testing.TB, pool *pgxpool.Pool, pipeline string) int {
	tb.Helper()
	n, err := store.CountMessages(context.Background(), pool, router.Topic(pipeline), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// Delivered reports whether the consumer group of sink — the router names
// a sink's group after the sink — is done with every row of the pipeline's
// topic (store.ConsumerDone). A test that kills a router and counts
// deliveries waits for this first.
func Delivered(tb testing.TB, pool *pgxpool.Pool, pipeline, sink string) bool {
	tb.Helper()
	ok, err := store.ConsumerDone(context.Background(), pool, router.Topic(pipeline), sink)
	if err != nil {
		tb.Fatal(err)
	}
	return ok
}
