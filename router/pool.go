package router

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgurl"
)

// PoolSize is how many pooled connections one instance running pipelines
// needs: per pipeline 2 for ingest (its batch transaction, plus one
// waiting), per source 1 (checkpoints), per sink 2 (claiming from the topic
// and from its retry queue, extending claims, the delivery log), plus 4 for
// the leader elector's renewals, maintenance, queue-depth gauges and the
// admin page; an ordered sink one more per 8 lanes it works here (each
// lane's worker holds a connection only for a short statement between
// deliveries). Two more connections per instance are held outside the pool
// for LISTEN (topic wake-ups and lease changes). The quickstart (one
// pipeline, four sources, one sink) needs 12 + 2: three instances use 42 of
// a stock PostgreSQL's 100.
func PoolSize(pipelines ...Pipeline) int32 {
	n := 4
	for _, p := range pipelines {
		n += 2 + len(p.Sources) + 2*len(p.Sinks)
		for _, s := range p.Sinks {
			if s.OrderKey != nil {
				n += (laneWorkers(s) + 7) / 8
			}
		}
	}
	return int32(max(n, 8))
}

// OpenPoolFor opens a pgx pool for the given pipelines: PoolSize
// connections unless the URL sets pool_max_conns, which wins. The URL must
// name its database, as for OpenPool.
func OpenPoolFor(ctx context.Context, url string, pipelines ...Pipeline) (*pgxpool.Pool, error) {
	if err := pgurl.Check(url); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("router: database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = PoolSize(pipelines...)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("router: open database: %w", err)
	}
	return pool, nil
}
