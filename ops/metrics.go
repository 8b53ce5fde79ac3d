package ops

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	lagGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_topic_lag", Help: "Messages of the pipeline topic a sink's consumer group has not acked.",
	}, []string{"pipeline", "sink"})
	retryDepth = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_retry_queue_depth", Help: "Messages waiting in a sink's delayed retry queue.",
	}, []string{"pipeline", "sink"})
	poisonDepth = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_poison_queue_depth", Help: "Messages of a sink in the poison queue.",
	}, []string{"pipeline", "sink"})
)

// WatchDepths refreshes the queue-depth gauges every interval until ctx ends.
// Depths are counted in the database, so they are polled rather than
// computed on every scrape.
func WatchDepths(ctx context.Context, pool *pgxpool.Pool, pipelines []PipelineInfo, interval time.Duration, logger watermill.LoggerAdapter) {
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
