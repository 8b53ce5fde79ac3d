package ops

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// WatchDepths refreshes the queue-depth gauges, registered on reg, every
// interval until ctx ends. Depths are counted in the database, so they are
// polled rather than computed on every scrape.
func WatchDepths(ctx context.Context, reg prometheus.Registerer, pool *pgxpool.Pool, pipelines []PipelineInfo, interval time.Duration, logger watermill.LoggerAdapter) {
	lagGauge := metrics.Gauge(reg, "tributary_topic_lag", "Messages of the pipeline topic a sink's consumer group has not acked.", "pipeline", "sink")
	retryDepth := metrics.Gauge(reg, "tributary_retry_queue_depth", "Messages waiting in a sink's delayed retry queue.", "pipeline", "sink")
	poisonDepth := metrics.Gauge(reg, "tributary_poison_queue_depth", "Messages of a sink in the poison queue.", "pipeline", "sink")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, interval)
		ds, err := QueueDepths(qctx, pool, pipelines)
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Error("Reading queue depths failed", err, nil)
		}
		for _, d := range ds {
			lagGauge.WithLabelValues(d.Pipeline, d.Sink).Set(float64(d.Lag))
			retryDepth.WithLabelValues(d.Pipeline, d.Sink).Set(float64(d.Retry))
			poisonDepth.WithLabelValues(d.Pipeline, d.Sink).Set(float64(d.Poison))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
