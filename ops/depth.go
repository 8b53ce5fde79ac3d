// Package ops holds what operators look at: queue depths and the delivery
// log read from the database, the /metrics, /healthz and /readyz endpoints,
// and the admin page.
package ops

import (
	"context"
	"errors"
	"fmt"

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
	// Depth, when set, counts a sink's lag and waiting retries where the
	// pipeline's topic is not in Postgres (router.JetStreamBackend.SinkDepth);
	// the poison count is always read from the database.
	Depth func(ctx context.Context, pipeline, sink string) (lag, retry int64, err error)
}

// ComponentInfo names a source or sink and its type.
type ComponentInfo struct {
	Name, Type string
	// Routing summarises a sink's filter and transform ("" when none).
	Routing string
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

// QueueDepths returns the depth of every sink of the given pipelines.
// Tables not created yet (the database was never migrated) count as empty.
func QueueDepths(ctx context.Context, pool *pgxpool.Pool, pipelines []PipelineInfo) ([]Depth, error) {
	var out []Depth
	for _, p := range pipelines {
		topic := router.Topic(p.Name)
		for _, s := range p.Sinks {
			d := Depth{Pipeline: p.Name, Sink: s.Name}
			if p.Depth != nil {
				lag, retry, err := p.Depth(ctx, p.Name, s.Name)
				if err != nil {
					return nil, fmt.Errorf("depth of %s/%s: %w", p.Name, s.Name, err)
				}
				d.Lag, d.Retry = lag, retry
			} else {
				lag, err := topicLag(ctx, pool, topic, s.Name)
				if err != nil {
					return nil, fmt.Errorf("lag of %s/%s: %w", p.Name, s.Name, err)
				}
				d.Lag = lag
				err = pool.QueryRow(ctx, `SELECT count(*) FROM tributary_queue WHERE topic = $1`,
					router.RetryTopic(p.Name, s.Name)).Scan(&d.Retry)
				if err := ignoreMissing(err); err != nil {
					return nil, fmt.Errorf("retry depth of %s/%s: %w", p.Name, s.Name, err)
				}
			}
			err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_poison WHERE pipeline = $1 AND sink = $2`, p.Name, s.Name).Scan(&d.Poison)
			if err := ignoreMissing(err); err != nil {
				return nil, fmt.Errorf("poison depth of %s/%s: %w", p.Name, s.Name, err)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// topicLag counts the messages of topic that group has not finished: those
// past its position (every message, before the group exists) and those in
// its claims. It reads an index range from the position, not the whole topic.
func topicLag(ctx context.Context, pool *pgxpool.Pool, topic, group string) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM tributary_messages WHERE topic = $1 AND "offset" >
			COALESCE((SELECT position FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2), 0))
		     + (SELECT COALESCE(sum(cardinality(offsets)), 0) FROM tributary_claims WHERE topic = $1 AND consumer_group = $2)`,
		topic, group).Scan(&n)
	return n, ignoreMissing(err)
}

func ignoreMissing(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return nil
	}
	return err
}
