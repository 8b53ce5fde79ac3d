// Package ops holds what operators look at: queue depths and the delivery
// log read from the database, the /metrics, /healthz and /readyz endpoints,
// and the admin page.
package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/router"
)

// PipelineInfo describes a running pipeline for the admin page and the depth
// gauges: names and types only.
type PipelineInfo struct {
	Name    string
	Sources []ComponentInfo
	Sinks   []ComponentInfo
}

// ComponentInfo names a source or sink and its type.
type ComponentInfo struct {
	Name, Type string
}

// Depth is how much waits for one sink of one pipeline.
type Depth struct {
	Pipeline string `json:"pipeline"`
	Sink     string `json:"sink"`
	// Lag is how many messages of the pipeline topic the sink's consumer
	// group has not acked yet.
	Lag int64 `json:"lag"`
	// Retry is how many messages wait in the sink's delayed retry queue.
	Retry int64 `json:"retry"`
	// Poison is how many messages of the sink are in the poison queue.
	Poison int64 `json:"poison"`
}

// The tables below are watermill-sql v4's: DefaultPostgreSQLSchema keeps a
// topic in "watermill_<topic>" (offset BIGSERIAL, transaction_id xid8, …) and
// DefaultPostgreSQLOffsetsAdapter one row per consumer group in
// "watermill_offsets_<topic>" (consumer_group, offset_acked,
// last_processed_transaction_id); a message is consumed by a group once
// (transaction_id, offset) ≤ (last_processed_transaction_id, offset_acked).
// The router names a sink's consumer group after the sink. The delayed retry
// queue is PostgreSQLQueueSchema: "watermill_<topic>" with an acked flag (rows
// are deleted on ack).
func messagesTable(topic string) string { return pgx.Identifier{"watermill_" + topic}.Sanitize() }
func offsetsTable(topic string) string {
	return pgx.Identifier{"watermill_offsets_" + topic}.Sanitize()
}

// QueueDepths returns the depth of every sink of the given pipelines.
// Topics not created yet (the router never ran) count as empty.
func QueueDepths(ctx context.Context, pool *pgxpool.Pool, pipelines []PipelineInfo) ([]Depth, error) {
	var out []Depth
	for _, p := range pipelines {
		topic := router.Topic(p.Name)
		for _, s := range p.Sinks {
			d := Depth{Pipeline: p.Name, Sink: s.Name}
			lag, err := topicLag(ctx, pool, topic, s.Name)
			if err != nil {
				return nil, fmt.Errorf("lag of %s/%s: %w", p.Name, s.Name, err)
			}
			d.Lag = lag
			err = pool.QueryRow(ctx, `SELECT count(*) FROM `+messagesTable(router.RetryTopic(p.Name, s.Name))+` WHERE NOT acked`).Scan(&d.Retry)
			if err := ignoreMissing(err); err != nil {
				return nil, fmt.Errorf("retry depth of %s/%s: %w", p.Name, s.Name, err)
			}
			err = pool.QueryRow(ctx, `SELECT count(*) FROM tributary_poison WHERE pipeline = $1 AND sink = $2`, p.Name, s.Name).Scan(&d.Poison)
			if err := ignoreMissing(err); err != nil {
				return nil, fmt.Errorf("poison depth of %s/%s: %w", p.Name, s.Name, err)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// topicLag counts the messages of topic that group has not acked. Until the
// group has an offsets row (or the topic has an offsets table) every message
// counts.
func topicLag(ctx context.Context, pool *pgxpool.Pool, topic, group string) (int64, error) {
	var hasMessages, hasOffsets bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
		messagesTable(topic), offsetsTable(topic)).Scan(&hasMessages, &hasOffsets); err != nil {
		return 0, err
	}
	var n int64
	switch {
	case !hasMessages:
		return 0, nil
	case !hasOffsets:
		err := pool.QueryRow(ctx, `SELECT count(*) FROM `+messagesTable(topic)).Scan(&n)
		return n, err
	}
	err := pool.QueryRow(ctx, `SELECT count(*) FROM `+messagesTable(topic)+` m
		LEFT JOIN `+offsetsTable(topic)+` o ON o.consumer_group = $1
		WHERE o.consumer_group IS NULL
		   OR m.transaction_id > o.last_processed_transaction_id
		   OR (m.transaction_id = o.last_processed_transaction_id AND m."offset" > o.offset_acked)`, group).Scan(&n)
	return n, err
}

func ignoreMissing(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return nil
	}
	return err
}
