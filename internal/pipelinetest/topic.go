package pipelinetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/router"
)

// TopicTable is the quoted name of the Postgres table holding the
// pipeline's topic.
func TopicTable(pipeline string) string {
	return fmt.Sprintf("%q", "watermill_"+router.Topic(pipeline))
}

// TopicIDs lists the event ids stored in the pipeline's topic, in topic
// order, repeats included.
func TopicIDs(tb testing.TB, pool *pgxpool.Pool, pipeline string) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `SELECT metadata->>'`+tributary.MetaEventID+`' FROM `+
		TopicTable(pipeline)+` ORDER BY transaction_id, "offset"`)
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
	err := pool.QueryRow(ctx, `SELECT count(*) FROM `+TopicTable(pipeline)+
		` WHERE metadata->>'`+tributary.MetaEventID+`' = ANY($1)`, ids).Scan(&n)
	return n, err
}

// TopicRows counts all rows of the pipeline's topic.
func TopicRows(tb testing.TB, pool *pgxpool.Pool, pipeline string) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+TopicTable(pipeline)).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Delivered reports whether the consumer group of sink — the router names
// a sink's group after the sink — has acked every row of the pipeline's
// topic. A delivery the sink has seen but whose ack is not yet committed is
// redelivered after a restart (at least once), so a test that restarts a
// router and counts deliveries waits for this first.
func Delivered(tb testing.TB, pool *pgxpool.Pool, pipeline, sink string) bool {
	tb.Helper()
	offsets := fmt.Sprintf("%q", "watermill_offsets_"+router.Topic(pipeline))
	var ok bool
	err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM `+offsets+` WHERE consumer_group = $1)
		AND NOT EXISTS (SELECT 1 FROM `+TopicTable(pipeline)+` m JOIN `+offsets+` o ON o.consumer_group = $1
			WHERE m.transaction_id > o.last_processed_transaction_id
			   OR (m.transaction_id = o.last_processed_transaction_id AND m."offset" > o.offset_acked))`, sink).Scan(&ok)
	if err != nil {
		tb.Fatal(err)
	}
	return ok
}
