package pipelinetest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/router"
)

// TopicIDs lists the event ids stored in the pipeline's topic, in topic
// order, repeats included.
func TopicIDs(tb testing.TB, pool *pgxpool.Pool, pipeline string) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `SELECT metadata->>'`+tributary.MetaEventID+`'
		FROM tributary_messages WHERE topic = $1 ORDER BY "offset"`, router.Topic(pipeline))
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// TopicCount counts the rows of the pipeline's topic holding one of ids.
// It returns its error, rather than failing a test, so that it can run off
// the test's goroutine.
func TopicCount(ctx context.Context, pool *pgxpool.Pool, pipeline string, ids []string) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_messages WHERE topic = $1
		AND metadata->>'`+tributary.MetaEventID+`' = ANY($2)`, router.Topic(pipeline), ids).Scan(&n)
	return n, err
}

// TopicRows counts all rows of the pipeline's topic.
func TopicRows(tb testing.TB, pool *pgxpool.Pool, pipeline string) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_messages WHERE topic = $1`,
		router.Topic(pipeline)).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Delivered reports whether the consumer group of sink — the router names
// a sink's group after the sink — is done with every row of the pipeline's
// topic: its position is past the last row and it holds no claim. A
// delivery the sink has seen but whose claim is not yet completed is
// redelivered after a crash (at least once), so a test that kills a router
// and counts deliveries waits for this first.
func Delivered(tb testing.TB, pool *pgxpool.Pool, pipeline, sink string) bool {
	tb.Helper()
	topic := router.Topic(pipeline)
	var ok bool
	err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2)
		AND NOT EXISTS (SELECT 1 FROM tributary_messages m JOIN tributary_consumers c ON c.topic = m.topic AND c.consumer_group = $2
			WHERE m.topic = $1 AND m."offset" > c.position)
		AND NOT EXISTS (SELECT 1 FROM tributary_claims WHERE topic = $1 AND consumer_group = $2)`, topic, sink).Scan(&ok)
	if err != nil {
		tb.Fatal(err)
	}
	return ok
}
