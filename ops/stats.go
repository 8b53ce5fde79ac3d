package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// SinkStats is a sink's delivery attempts over a window of the delivery log.
type SinkStats struct {
	Pipeline string `json:"pipeline"`
	Sink     string `json:"sink"`
	Attempts int64  `json:"attempts"`
	Success  int64  `json:"success"`
	// P50, P95 and P99 are latency percentiles in milliseconds.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	// LastOutcome and LastAt are the newest attempt's.
	LastOutcome string    `json:"last_outcome"`
	LastAt      time.Time `json:"last_at"`
}

// SuccessRate is the share of attempts that succeeded, in percent.
func (s SinkStats) SuccessRate() float64 {
	if s.Attempts == 0 {
		return 0
	}
	return 100 * float64(s.Success) / float64(s.Attempts)
}

// SinkStatsSince aggregates every sink's attempts since the given time. It
// reads the window's attempts on tributary_delivery_attempts_time_idx: its
// cost grows with the window's traffic, not with the log's length.
func SinkStatsSince(ctx context.Context, pool *pgxpool.Pool, since time.Time) (map[[2]string]SinkStats, error) {
	rows, err := pool.Query(ctx, `
		SELECT pipeline, sink, count(*), count(*) FILTER (WHERE outcome = $2),
			percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms),
			(array_agg(outcome ORDER BY id DESC))[1], max(attempted_at)
		FROM tributary_delivery_attempts WHERE attempted_at >= $1
		GROUP BY pipeline, sink`, since, deliverylog.OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("sink stats: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]SinkStats{}
	for rows.Next() {
		var s SinkStats
		var pct []float64
		if err := rows.Scan(&s.Pipeline, &s.Sink, &s.Attempts, &s.Success, &pct, &s.LastOutcome, &s.LastAt); err != nil {
			return nil, fmt.Errorf("sink stats: %w", err)
		}
		if len(pct) == 3 {
			s.P50, s.P95, s.P99 = pct[0], pct[1], pct[2]
		}
		out[[2]string{s.Pipeline, s.Sink}] = s
	}
	return out, rows.Err()
}

// Bucket is one minute of a sink's attempts.
type Bucket struct {
	T     int64   `json:"t"` // unix seconds of the minute's start
	Count int64   `json:"n"`
	Fail  int64   `json:"fail"`
	P95   float64 `json:"p95"`
}

// SinkSeries is a sink's attempts per minute.
type SinkSeries struct {
	Pipeline string   `json:"pipeline"`
	Sink     string   `json:"sink"`
	Buckets  []Bucket `json:"buckets"`
}

// ThroughputSince returns attempts per minute and their p95 latency, per
// sink, since the given time (same index as SinkStatsSince).
func ThroughputSince(ctx context.Context, pool *pgxpool.Pool, since time.Time) ([]SinkSeries, error) {
	rows, err := pool.Query(ctx, `
		SELECT pipeline, sink, extract(epoch FROM date_trunc('minute', attempted_at))::bigint AS m, count(*),
			count(*) FILTER (WHERE outcome <> $2), percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
		FROM tributary_delivery_attempts WHERE attempted_at >= $1
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, since, deliverylog.OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	defer rows.Close()
	var out []SinkSeries
	for rows.Next() {
		var p, s string
		var b Bucket
		if err := rows.Scan(&p, &s, &b.T, &b.Count, &b.Fail, &b.P95); err != nil {
			return nil, fmt.Errorf("throughput: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].Pipeline != p || out[n-1].Sink != s {
			out = append(out, SinkSeries{Pipeline: p, Sink: s})
		}
		out[len(out)-1].Buckets = append(out[len(out)-1].Buckets, b)
	}
	return out, rows.Err()
}
