// Package ops holds what operators look at: queue depths and the delivery
// log read from the database, the /metrics, /healthz and /readyz endpoints,
// and the admin page.
package ops

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/store"
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
				lag, err := store.TopicLag(ctx, pool, topic, s.Name)
				if err := store.IgnoreMissingTable(err); err != nil {
					return nil, fmt.Errorf("lag of %s/%s: %w", p.Name, s.Name, err)
				}
				d.Lag = lag
				d.Retry, err = store.QueueDepth(ctx, pool, router.RetryTopic(p.Name, s.Name))
				if err := store.IgnoreMissingTable(err); err != nil {
					return nil, fmt.Errorf("retry depth of %s/%s: %w", p.Name, s.Name, err)
				}
			}
			var err error
			d.Poison, err = store.CountPoison(ctx, pool, store.PoisonFilter{Pipeline: p.Name, Sink: s.Name})
			if err := store.IgnoreMissingTable(err); err != nil {
				return nil, fmt.Errorf("poison depth of %s/%s: %w", p.Name, s.Name, err)
			}
			out = append(out, d)
		}
	}
	return out, nil
}
