package ops

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/store"
)

// BenchmarkConsoleQueries times each query the console pages run on a
// delivery log of a million attempts over 7 days (5,952 in the last hour,
// 4 pipelines × 5 sinks) and a million events in 4 topics
// ($CONSOLE_BENCH_ROWS changes the million), and logs the plan each one
// ran with (auto_explain: indexes used, any sequential scan) and a
// Markdown table of both for docs/cli.md. A sequential scan of the topic
// or the delivery log fails it: those grow without bound.
//
//	go test -run '^$' -bench BenchmarkConsoleQueries -benchtime 20x ./ops/
func BenchmarkConsoleQueries(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CONSOLE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("CONSOLE_BENCH_ROWS=%q: want a number >= 1000", v)
		}
	}
	ctx := context.Background()
	url := pgtest.NewDatabase(b)
	pool := pgtest.PoolFor(b, url)
	seedConsoleBench(b, pool, n)
	explain := explainPool(b, url)

	// An event near the newest, as an operator would open.
	var pipeline, eventID string
	var offset int64
	id := "ev-" + strconv.Itoa(n-123)
	if err := pool.QueryRow(ctx, `SELECT substr(topic, 11), "offset", metadata->>'tributary_event_id' FROM tributary_messages
		WHERE metadata->>'tributary_event_id' = $1`, id).Scan(&pipeline, &offset, &eventID); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	one, all := []string{pipeline}, []string{"p0", "p1", "p2", "p3"}
	infos := make([]PipelineInfo, 4)
	for i := range infos {
		infos[i].Name = "p" + strconv.Itoa(i)
		for s := range 5 {
			infos[i].Sinks = append(infos[i].Sinks, ComponentInfo{Name: "s" + strconv.Itoa(s)})
		}
	}
	search := func(f EventFilter) func(context.Context, *pgxpool.Pool) error {
		return func(ctx context.Context, p *pgxpool.Pool) error {
			_, _, err := SearchEvents(ctx, p, f)
			return err
		}
	}
	cases := []struct {
		name string
		// want is an index the plan must use.
		want string
		run  func(context.Context, *pgxpool.Pool) error
	}{
		{"events: newest of a pipeline", "tributary_messages_pkey", search(EventFilter{Pipelines: one})},
		{"events: an older page (offset <)", "tributary_messages_pkey", search(EventFilter{Pipelines: one, Before: offset - int64(n/2)})},
		{"events: by id, every pipeline", "tributary_messages_event_id_idx", search(EventFilter{Pipelines: all, EventID: eventID})},
		{"events: by source", "tributary_messages_source_idx", search(EventFilter{Pipelines: one, Source: "src2"})},
		{"events: by type", "tributary_messages_type_idx", search(EventFilter{Pipelines: one, Type: "door.t3"})},
		{"events: closed time range (1 h, 3 days ago)", "tributary_messages_created_idx", search(EventFilter{Pipelines: one,
			From: now.Add(-73 * time.Hour), Until: now.Add(-72 * time.Hour)})},
		{"event page: event, dedup key, seen by, attempts, resends", "tributary_delivery_attempts_message_idx", func(ctx context.Context, p *pgxpool.Pool) error {
			e, err := GetEvent(ctx, p, pipeline, offset)
			if err == nil && len(e.Attempts) == 0 {
				err = fmt.Errorf("event %s has no attempts", eventID)
			}
			return err
		}},
		{"overview: latest 25 attempts", "tributary_delivery_attempts_pkey", func(ctx context.Context, p *pgxpool.Pool) error {
			_, err := store.Attempts(ctx, p, store.AttemptFilter{Limit: 25})
			return err
		}},
		{"overview: the latest 25 attempts' event pages", "tributary_messages_event_id_idx", func(ctx context.Context, p *pgxpool.Pool) error {
			ats, err := store.Attempts(ctx, p, store.AttemptFilter{Limit: 25})
			if err != nil {
				return err
			}
			refs := make([]store.MessageRef, len(ats))
			for i, a := range ats {
				refs[i] = store.MessageRef{Topic: router.Topic(a.Pipeline), EventID: a.EventID, UUID: a.MessageUUID}
			}
			got, err := store.MessageOffsets(ctx, p, refs)
			if err == nil && len(got) != len(refs) {
				err = fmt.Errorf("found %d of %d attempts' events", len(got), len(refs))
			}
			return err
		}},
		{"overview: queue depths (20 sinks)", "tributary_messages_pkey", func(ctx context.Context, p *pgxpool.Pool) error {
			_, err := QueueDepths(ctx, p, infos)
			return err
		}},
		{"endpoints: last hour's rate and percentiles", "tributary_delivery_attempts_time_idx", func(ctx context.Context, p *pgxpool.Pool) error {
			_, err := store.SinkStatsSince(ctx, p, time.Now().Add(-time.Hour))
			return err
		}},
		{"live: per-minute throughput and p95, last hour", "tributary_delivery_attempts_time_idx", func(ctx context.Context, p *pgxpool.Pool) error {
			_, err := store.ThroughputSince(ctx, p, time.Now().Add(-time.Hour))
			return err
		}},
		{"bulk review: failed at a sink in the last day", "tributary_delivery_attempts_sink_time_idx", func(ctx context.Context, p *pgxpool.Pool) error {
			_, err := FailedSince(ctx, p, pipeline, "s2", time.Now().Add(-24*time.Hour))
			return err
		}},
	}
	table := []string{"| Query | Index (from the plan) | Time |", "| --- | --- | --- |"}
	for _, c := range cases {
		plans := explain.capture(b, func() error { return c.run(ctx, explain.pool) })
		used, scans := planIndexes(plans)
		if os.Getenv("CONSOLE_BENCH_PLANS") != "" {
			b.Logf("%s:\n%s", c.name, strings.Join(plans, "\n"))
		}
		// On small tables the planner rightly prefers scans: judge plans at scale.
		judge := n >= 100_000
		if judge && !slices.Contains(used, "`"+c.want+"`") && !slices.Contains(used, "`"+c.want+"` backwards") {
			b.Errorf("%s does not use %s:\n%s", c.name, c.want, strings.Join(plans, "\n"))
		}
		for _, t := range scans {
			if judge && (t == "tributary_messages" || t == "tributary_delivery_attempts") {
				b.Errorf("%s scans %s:\n%s", c.name, t, strings.Join(plans, "\n"))
			}
		}
		var per time.Duration
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(ctx, pool); err != nil {
					b.Fatal(err)
				}
			}
			per = b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/query")
		})
		idx := strings.Join(used, ", ")
		if len(scans) > 0 {
			idx += "; seq scan of " + strings.Join(scans, ", ")
		}
		table = append(table, fmt.Sprintf("| %s | %s | %.1f ms |", c.name, idx, float64(per.Microseconds())/1000))
	}
	b.Logf("%d attempts, %d events:\n%s", n, n, strings.Join(table, "\n"))
}

// seedConsoleBench writes n events over the last 7 days into 4 topics, one
// attempt for each (1 in 20 failed), their dedup keys, a dedup hit for one
// in ten, a resend for one in a thousand, and each sink's consumer group a
// hundred events behind.
func seedConsoleBench(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO tributary_messages (topic, uuid, payload, metadata, created_at)
		SELECT 'tributary.p' || (i % 4), 'u' || i, convert_to('{"door":"' || i || '","state":"open"}', 'UTF8'),
			jsonb_build_object('tributary_event_id', 'ev-' || i, 'tributary_source', 'src' || (i % 3),
				'tributary_event_type', 'door.t' || (i % 10), 'tributary_pipeline', 'p' || (i % 4)),
			now() - make_interval(secs => ($1 - i) * 604800.0 / $1)
		FROM generate_series(1, $1) i ORDER BY i`,
		`INSERT INTO tributary_delivery_attempts (pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at,
			latency_ms, status_code, outcome, error, request_headers)
		SELECT 'p' || (i % 4), 's' || ((i / 4) % 5), 'https://receiver.example/hook', 'ev-' || i, 'u' || i, 1,
			now() - make_interval(secs => ($1 - i) * 604800.0 / $1 - 0.5), 5 + (i % 97),
			CASE WHEN i % 20 = 0 THEN 503 ELSE 204 END, CASE WHEN i % 20 = 0 THEN 'transient' ELSE 'success' END,
			CASE WHEN i % 20 = 0 THEN 'status 503' ELSE '' END,
			jsonb_build_object('Content-Type', 'application/json', 'Webhook-Id', 'ev-' || i, 'Webhook-Signature', '[redacted]')
		FROM generate_series(1, $1) i`,
		`INSERT INTO tributary_dedup (pipeline, key, expires_at)
		SELECT 'p' || (i % 4), 'ev-' || i, now() + make_interval(secs => 86400 - ($1 - i) * 604800.0 / $1)
		FROM generate_series(1, $1) i`,
		`INSERT INTO tributary_dedup_hits (pipeline, key, source, hits, expires_at)
		SELECT 'p' || (i % 4), 'ev-' || i, 'src' || ((i + 1) % 3), 1 + i % 3, now() + interval '1 day'
		FROM generate_series(10, $1, 10) i`,
		`INSERT INTO tributary_resends (pipeline, sink, event_id, message_uuid, topic_offset, requested_by)
		SELECT 'p' || (i % 4), 's1', 'ev-' || i, 'u' || i, i, 'bench' FROM generate_series(1000, $1, 1000) i`,
		`INSERT INTO tributary_consumers (topic, consumer_group, position)
		SELECT topic, 's' || s, max("offset") - 100 FROM tributary_messages, generate_series(0, 4) s GROUP BY topic, s
		ON CONFLICT (topic, consumer_group) DO UPDATE SET position = EXCLUDED.position`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d events and attempts in %s", n, time.Since(start).Round(time.Second))
}

// explainer is a pool whose every statement sends its plan back as a
// notice (auto_explain at level notice, with actual times).
type explainer struct {
	pool  *pgxpool.Pool
	mu    sync.Mutex
	plans []string
}

func explainPool(b *testing.B, url string) *explainer {
	b.Helper()
	e := &explainer{}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if strings.HasPrefix(n.Message, "duration:") {
			e.mu.Lock()
			e.plans = append(e.plans, n.Message)
			e.mu.Unlock()
		}
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
			SET auto_explain.log_level = notice; SET client_min_messages = notice`)
		return err
	}
	if e.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.pool.Close)
	return e
}

// capture runs f (twice: the first run warms the cache) and returns the
// plans of the second.
func (e *explainer) capture(b *testing.B, f func() error) []string {
	b.Helper()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	e.mu.Lock()
	e.plans = nil
	e.mu.Unlock()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.plans)
}

var (
	indexScan = regexp.MustCompile(`(Index Only Scan|Index Scan|Bitmap Index Scan)( Backward)?( using| on) (\S+)`)
	seqScan   = regexp.MustCompile(`Seq Scan on (\S+)`)
)

// planIndexes lists the indexes the plans read (marked when read
// backwards) and the tables they scan.
func planIndexes(plans []string) (indexes, scans []string) {
	for _, p := range plans {
		for _, m := range indexScan.FindAllStringSubmatch(p, -1) {
			ix := "`" + m[4] + "`"
			if m[2] != "" {
				ix += " backwards"
			}
			if !slices.Contains(indexes, ix) {
				indexes = append(indexes, ix)
			}
		}
		for _, m := range seqScan.FindAllStringSubmatch(p, -1) {
			if !slices.Contains(scans, m[1]) {
				scans = append(scans, m[1])
			}
		}
	}
	return indexes, scans
}
