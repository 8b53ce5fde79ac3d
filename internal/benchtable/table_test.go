package benchtable_test

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// notes is what the profiles say about the rows, appended to the table.
//
//go:embed notes.md
var notes string

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// receiver counts distinct event ids and records each one's latency from
// its source (X-Sent-At, the hand-on time).
type receiver struct {
	mu   sync.Mutex
	seen map[string]bool
	// dense, when set, replaces seen for ids "<dense>N" (N < want): a
	// million-entry map of strings would dominate the backlog rows' RSS
	// and GC, measuring the harness instead of the pipeline.
	dense   string
	bits    []bool
	count   int
	latency []time.Duration
	want    int
	done    chan struct{}
}

func newReceiver(want int) *receiver {
	return &receiver{seen: map[string]bool{}, want: want, done: make(chan struct{})}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	now := time.Now()
	sent, _ := strconv.ParseInt(req.Header.Get("X-Sent-At"), 10, 64)
	r.mu.Lock()
	id := req.Header.Get("webhook-id")
	if r.first(id) {
		r.count++
		if sent > 0 {
			r.latency = append(r.latency, now.Sub(time.Unix(0, sent)))
		}
		if r.count == r.want {
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// first reports whether id arrives for the first time, and marks it.
func (r *receiver) first(id string) bool {
	if r.dense != "" {
		if n, err := strconv.Atoi(strings.TrimPrefix(id, r.dense)); err == nil && n >= 0 && n < r.want {
			if r.bits == nil {
				r.bits = make([]bool, r.want)
			}
			was := r.bits[n]
			r.bits[n] = true
			return !was
		}
	}
	if r.seen[id] {
		return false
	}
	r.seen[id] = true
	return true
}

func (r *receiver) percentiles() (p50, p90, p99 time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := slices.Clone(r.latency)
	slices.Sort(l)
	if len(l) == 0 {
		return
	}
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return at(.5), at(.9), at(.99)
}

func newWebhook(b *testing.B, url string, pool *pgxpool.Pool) *webhook.Publisher {
	cfg := webhook.Config{URL: url, Secrets: []string{secret}, Token: "bench-token", AllowPrivateNetworks: true,
		MaxInFlight: 64, MetadataHeaders: map[string]string{"X-Sent-At": "sent_at"}}
	if pool != nil {
		cfg.Log = webhook.NewPostgresLog(pool)
	}
	p, err := webhook.NewPublisher(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// pipelineRun runs sources → Postgres topic → the webhook sink until the
// receiver has want events, and says how long that took.
func pipelineRun(b *testing.B, pool *pgxpool.Pool, srcs []router.Source, recv *receiver, concurrency int, logged bool) time.Duration {
	srv := httptest.NewServer(recv)
	defer srv.Close()
	var logPool *pgxpool.Pool
	if logged {
		logPool = pool
	}
	sink := newWebhook(b, srv.URL, logPool)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name: "bench", Sources: srcs,
		Sinks: []router.Sink{{Name: "hook", Publisher: sink, Concurrency: concurrency}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	select {
	case <-recv.done:
	case <-time.After(10 * time.Minute):
		b.Fatal("pipeline did not deliver everything in 10 minutes")
	}
	took := time.Since(start)
	cancel()
	<-done
	return took
}

// e2e is one end-to-end run: events/s, and CPU per event in this process
// (sources, router, sink and receiver) and in the tests' Postgres.
type e2e struct {
	rate       float64
	cpu, pgCPU time.Duration
}

func (r e2e) String() string {
	return fmt.Sprintf("%.0f events/s (CPU/event %d µs here + %d µs Postgres)", r.rate, r.cpu.Microseconds(), r.pgCPU.Microseconds())
}

// endToEnd runs n events from `sources` sources (each `inFlight` unacked at
// once) to the receiver.
func endToEnd(b *testing.B, n, sources, inFlight int, logged bool) e2e {
	return endToEndGroups(b, n, sources, 0, inFlight, logged)
}

// endToEndGroups is endToEnd with sources that hand on groups of `group`
// events (`inFlight` groups at once); group 0 means one event at a time.
func endToEndGroups(b *testing.B, n, sources, group, inFlight int, logged bool) e2e {
	pool := pgtest.NewPool(b)
	var srcs []router.Source
	for i := range sources {
		var src tributary.Source = tributary.FromSubscriber(newBurstSource(fmt.Sprintf("s%d", i), n/sources, inFlight, 0), "")
		if group > 0 {
			src = newGroupSource(fmt.Sprintf("s%d", i), n/sources, group, inFlight)
		}
		srcs = append(srcs, router.Source{Name: fmt.Sprintf("s%d", i), Source: src})
	}
	recv := newReceiver(n / sources * sources)
	cpu0, pg0 := cpuTime(), pgCPU()
	took := pipelineRun(b, pool, srcs, recv, 16, logged)
	return e2e{rate: float64(recv.want) / took.Seconds(),
		cpu: (cpuTime() - cpu0) / time.Duration(recv.want), pgCPU: (pgCPU() - pg0) / time.Duration(recv.want)}
}

// rawWatermillSQL is the baseline: watermill-sql publishing one message per
// transaction from 8 goroutines, a consumer group reading them.
func rawWatermillSQL(b *testing.B, n int) float64 {
	pool := pgtest.NewPool(b)
	db := wsql.BeginnerFromPgx(pool)
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}, AutoInitializeSchema: true}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{ConsumerGroup: "raw", SchemaAdapter: wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{}, InitializeSchema: true, PollInterval: 10 * time.Millisecond}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.SubscribeInitialize("raw"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, "raw")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var next atomic.Int64
	for range 8 {
		go func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				_ = pub.Publish("raw", tributary.NewEventMessage("raw-"+strconv.FormatInt(i, 10), payload))
			}
		}()
	}
	for range n {
		(<-msgs).Ack()
	}
	return float64(n) / time.Since(start).Seconds()
}

// rawLatency is the baseline of the latency rows: watermill-sql publish at
// `rate` events/s, a consumer group receiving; percentiles of publish →
// receive.
func rawLatency(b *testing.B, rate int, d time.Duration) (p50, p90, p99 time.Duration) {
	pool := pgtest.NewPool(b)
	db := wsql.BeginnerFromPgx(pool)
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}, AutoInitializeSchema: true}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{ConsumerGroup: "raw", SchemaAdapter: wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{}, InitializeSchema: true}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	_ = sub.SubscribeInitialize("raw")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, _ := sub.Subscribe(ctx, "raw")
	n := int(float64(rate) * d.Seconds())
	go func() {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for i := range n {
			<-t.C
			m := tributary.NewEventMessage("raw-"+strconv.Itoa(i), payload)
			m.Metadata.Set("sent_at", strconv.FormatInt(time.Now().UnixNano(), 10))
			go func() { _ = pub.Publish("raw", m) }()
		}
	}()
	var l []time.Duration
	for range n {
		m := <-msgs
		sent, _ := strconv.ParseInt(m.Metadata.Get("sent_at"), 10, 64)
		l = append(l, time.Since(time.Unix(0, sent)))
		m.Ack()
	}
	slices.Sort(l)
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return at(.5), at(.9), at(.99)
}

func latency(b *testing.B, rate int, d time.Duration) (p50, p90, p99 time.Duration) {
	pool := pgtest.NewPool(b)
	n := int(float64(rate) * d.Seconds())
	recv := newReceiver(n)
	src := newBurstSource("l", n, 64, time.Second/time.Duration(rate))
	pipelineRun(b, pool, []router.Source{{Name: "paced", Source: tributary.FromSubscriber(src, "paced")}}, recv, 16, false)
	return recv.percentiles()
}

// firstAfterIdle is the latency of one event handed on after the pipeline
// sat idle for `idle`.
func firstAfterIdle(b *testing.B, idle time.Duration) time.Duration {
	pool := pgtest.NewPool(b)
	recv := newReceiver(2)
	src := newBurstSource("idle", 2, 1, idle)
	pipelineRun(b, pool, []router.Source{{Name: "idle", Source: tributary.FromSubscriber(src, "idle")}}, recv, 1, false)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	return recv.latency[len(recv.latency)-1]
}

func rssMiB() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// backlog fills the topic with n events while the receiver is away, then
// measures the drain; it reports fill and drain events/s and the largest
// RSS seen while draining.
func backlog(b *testing.B, n int) (fill, drain, maxRSS float64) {
	pool := pgtest.NewPool(b)
	pub := pgtopic.NewPublisher(pool)
	topic := router.Topic("bench")
	// The sink's group exists before the fill, as when a receiver is down.
	if _, err := pool.Exec(context.Background(), `INSERT INTO tributary_consumers (topic, consumer_group) VALUES ($1, 'hook')`, topic); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const chunk = 1000
	for i := 0; i < n; i += chunk {
		batch := make([]*message.Message, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			m := tributary.NewEventMessage("bk-"+strconv.Itoa(j), payload)
			batch = append(batch, m)
		}
		if err := pub.Publish(topic, batch...); err != nil {
			b.Fatal(err)
		}
	}
	fill = float64(n) / time.Since(start).Seconds()
	debug.FreeOSMemory() // RSS from the rows before and the fill is not the drain's
	recv := newReceiver(n)
	recv.dense = "bk-"
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := uint64(rssMiB() * 1024); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	idle := newBurstSource("none", 0, 1, 0)
	took := pipelineRun(b, pool, []router.Source{{Name: "none", Source: tributary.FromSubscriber(idle, "none")}}, recv, 16, false)
	close(stop)
	return fill, float64(n) / took.Seconds(), float64(peak.Load()) / 1024
}

// sinkVsBare: deliveries/s through the webhook sink (signed) and a bare
// net/http loop signing the same body with the same key, one goroutine
// each; five alternating rounds of n/5, medians compared, so that load from
// elsewhere on the machine hits both alike.
func sinkVsBare(b *testing.B, n int) (sink, bare float64) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p := newWebhook(b, srv.URL, nil)
	defer p.Close()
	client := &http.Client{}
	const rounds = 5
	per := max(n/rounds, 1)
	sinkRun := func(round int) float64 {
		start := time.Now()
		for i := range per {
			if err := p.Publish("bench", tributary.NewEventMessage("s-"+strconv.Itoa(round*per+i), payload)); err != nil {
				b.Fatal(err)
			}
		}
		return float64(per) / time.Since(start).Seconds()
	}
	bareRun := func(round int) float64 {
		start := time.Now()
		for i := range per {
			id := "b-" + strconv.Itoa(round*per+i)
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", ts)
			req.Header.Set("webhook-signature", bareSign(id, ts, payload))
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return float64(per) / time.Since(start).Seconds()
	}
	var ss, bs []float64
	for round := range rounds {
		if round%2 == 0 {
			ss, bs = append(ss, sinkRun(round)), append(bs, bareRun(round))
		} else {
			bs, ss = append(bs, bareRun(round)), append(ss, sinkRun(round))
		}
	}
	slices.Sort(ss)
	slices.Sort(bs)
	return ss[rounds/2], bs[rounds/2]
}

type row struct {
	what, value, baseline, ratio, goal string
}

// binaryIdleSources runs cmd/tributary's BenchmarkBinaryIdleSources (the
// built binary with 1,000 idle etagpoll sources from a pipeline file,
// reading its own /metrics) and returns its KB of RSS and goroutines per
// source: the row measures what a user of the binary runs.
func binaryIdleSources() (kb, goroutines float64, err error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkBinaryIdleSources$/sources=1000", "-benchtime", "1x", "-timeout", "10m", ".")
	cmd.Dir = filepath.Join("..", "..", "cmd", "tributary")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%v\n%s", err, out)
	}
	m := regexp.MustCompile(`([0-9.]+) KB-RSS/source\s+([0-9.]+) goroutines/source`).FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no figures in\n%s", out)
	}
	kb, _ = strconv.ParseFloat(string(m[1]), 64)
	goroutines, _ = strconv.ParseFloat(string(m[2]), 64)
	return kb, goroutines, nil
}

// BenchmarkTable runs every row once (whatever b.N) and prints the table;
// BENCH_WRITE=1 writes it to docs/benchmarks.md. BENCH_EVENTS (20000),
// BENCH_BACKLOG (200000; 1000000 for the large row) and BENCH_IDLE
// (seconds, 10) size it.
func BenchmarkTable(b *testing.B) {
	n := envInt("BENCH_EVENTS", 20000)
	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		b.Logf("%-58s %-22s %-22s %-8s", r.what, r.value, r.baseline, r.ratio)
	}
	eps := func(v float64) string { return fmt.Sprintf("%.0f events/s", v) }
	ratio := func(a, base float64) string { return fmt.Sprintf("%.2f×", a/base) }

	raw := rawWatermillSQL(b, n)
	add(row{"raw watermill-sql (8 workers, 1 msg/tx, consumer group)", eps(raw), "—", "—", "baseline"})
	for _, c := range []struct {
		sources, inFlight int
		goal              string
	}{{1, 1, "≥ 5,000"}, {1, 16, "≥ 10,000 and ≥ 2× raw"}, {4, 1, "≥ 10,000 and ≥ 2× raw"}, {4, 16, "≥ 10,000 and ≥ 2× raw"}} {
		v := endToEnd(b, n, c.sources, c.inFlight, false)
		add(row{fmt.Sprintf("end to end, %d source(s), %d in flight each, signed webhook", c.sources, c.inFlight), v.String(), eps(raw), ratio(v.rate, raw), c.goal})
	}
	for _, c := range []struct {
		sources, group int
		goal           string
	}{{1, 100, "≥ 5,000"}, {4, 100, "≥ 10,000 and ≥ 2× raw"}} {
		v := endToEndGroups(b, n, c.sources, c.group, 1, false)
		add(row{fmt.Sprintf("end to end, %d source(s), groups of %d, 1 group in flight each, signed webhook", c.sources, c.group), v.String(), eps(raw), ratio(v.rate, raw), c.goal})
	}
	off := endToEnd(b, n, 1, 16, false)
	on := endToEnd(b, n, 1, 16, true)
	add(row{"end to end, 1 source 16 in flight, delivery log ON (vs OFF)", on.String(), off.String(), ratio(on.rate, off.rate), "≥ 0.9×"})

	for _, rate := range []int{200, 1000} {
		d := 5 * time.Second
		r50, r90, r99 := rawLatency(b, rate, d)
		p50, p90, p99 := latency(b, rate, d)
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
		add(row{fmt.Sprintf("latency at %d/s, hand-on → receiver, p50/p90/p99 ms", rate),
			ms(p50) + "/" + ms(p90) + "/" + ms(p99), ms(r50) + "/" + ms(r90) + "/" + ms(r99) + " (raw)",
			fmt.Sprintf("%.2f× p99", float64(p99)/float64(r99)), "p50 < 5, p99 < 25"})
	}
	idle := time.Duration(envInt("BENCH_IDLE", 10)) * time.Second
	first := firstAfterIdle(b, idle)
	add(row{fmt.Sprintf("first event after %v idle", idle), fmt.Sprintf("%.1f ms", float64(first.Microseconds())/1000), "—", "—", "< 20 ms"})

	sizes := []int{200000}
	if v := envInt("BENCH_BACKLOG", 200000); v != 200000 {
		sizes = append(sizes, v) // BENCH_BACKLOG=1000000 adds the 1M row
	}
	for _, size := range sizes {
		fill, drain, rss := backlog(b, size)
		add(row{fmt.Sprintf("backlog of %d: fill (batches of 1,000)", size), eps(fill), "—", "—", ""})
		add(row{fmt.Sprintf("backlog of %d: drain to the webhook receiver, max RSS %.0f MiB", size, rss), eps(drain), eps(off.rate) + " (e2e)", ratio(drain, off.rate), "≥ 8,000/s at 1M; < 100 MiB"})
	}
	polled, raw1k := idleETagSources(b), idleRawPolls()
	add(row{"1,000 idle ETag sources (304s every 50 ms), built from a pipeline file, with leadership: memory per source", fmt.Sprintf("%.1f KB", polled.bytesPerSource/1024),
		fmt.Sprintf("%.1f KB (bare pollers)", raw1k.bytesPerSource/1024), ratio(polled.bytesPerSource, raw1k.bytesPerSource), "< 25 KB"})
	add(row{"1,000 idle ETag sources: goroutines per source", fmt.Sprintf("%.1f", polled.goroutinesPerSrc),
		fmt.Sprintf("%.1f (bare pollers)", raw1k.goroutinesPerSrc), ratio(polled.goroutinesPerSrc, raw1k.goroutinesPerSrc), "≤ 2"})
	add(row{"1,000 idle ETag sources: CPU per idle poll", fmt.Sprintf("%.0f µs", float64(polled.cpuPerPoll.Microseconds())),
		fmt.Sprintf("%.0f µs (bare pollers)", float64(raw1k.cpuPerPoll.Microseconds())), ratio(float64(polled.cpuPerPoll), float64(raw1k.cpuPerPoll)), ""})
	if kb, g, err := binaryIdleSources(); err != nil {
		b.Logf("built binary's idle row skipped: %v", err)
	} else {
		add(row{"built binary (`tributary run`, pipeline file), 1,000 idle ETag sources, its own /metrics: RSS per source", fmt.Sprintf("%.1f KB", kb),
			"—", "—", "< 25 KB"})
		add(row{"built binary, 1,000 idle ETag sources: goroutines per source", fmt.Sprintf("%.2f", g), "—", "—", "≤ 0.2"})
	}
	sink, bare := sinkVsBare(b, n/2)
	add(row{"webhook sink vs bare net/http loop, signed, 1 goroutine", fmt.Sprintf("%.0f/s", sink), fmt.Sprintf("%.0f/s", bare), ratio(sink, bare), "≥ 0.9×"})

	var sb strings.Builder
	host, _ := os.Hostname()
	var fsync, syncCommit string
	settings := pgtest.NewPool(b)
	_ = settings.QueryRow(context.Background(), `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit)
	fmt.Fprintf(&sb, "# Benchmarks\n\n`task bench` (internal/benchtable) on %s: %d cores (GOMAXPROCS %d), %s, PostgreSQL at %s "+
		"(fsync %s, synchronous_commit %s: `task bench` uses the tests' own cluster; a durable server commits slower); %s.\n"+
		"Every ratio compares with a baseline measured in the same run. %d events per end-to-end row.\n\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), pgtest.AdminURL()[strings.LastIndex(pgtest.AdminURL(), "@")+1:],
		fsync, syncCommit, time.Now().UTC().Format("2006-01-02"), n)
	sb.WriteString("| what | measured | baseline (same run) | ratio | goal |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", r.what, r.value, r.baseline, r.ratio, r.goal)
	}
	sb.WriteString("\n" + notes)
	fmt.Println(sb.String())
	if os.Getenv("BENCH_WRITE") == "1" {
		path := filepath.Join("..", "..", "docs", "benchmarks.md")
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndToEnd is rows of the table on their own, for profiling: b.N
// events; ingest_share is how much of the run the sources took to have
// everything acked (near 1: ingest is the limit). BENCH_LOG=1 turns the
// delivery log on.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range []struct{ sources, group, inFlight int }{{1, 0, 1}, {1, 0, 16}, {4, 0, 16}, {1, 100, 1}, {4, 100, 1}} {
		name := fmt.Sprintf("sources=%d/inflight=%d", c.sources, c.inFlight)
		if c.group > 0 {
			name = fmt.Sprintf("sources=%d/groups=%d/inflight=%d", c.sources, c.group, c.inFlight)
		}
		b.Run(name, func(b *testing.B) {
			n := max(b.N, 100)
			pool := pgtest.NewPool(b)
			var srcs []router.Source
			var bursts []interface{ lastAck() int64 }
			for i := range c.sources {
				var src tributary.Source
				if c.group > 0 {
					gs := newGroupSource(fmt.Sprintf("s%d", i), n/c.sources, c.group, c.inFlight)
					bursts, src = append(bursts, gs), gs
				} else {
					bs := newBurstSource(fmt.Sprintf("s%d", i), n/c.sources, c.inFlight, 0)
					bursts, src = append(bursts, bs), tributary.FromSubscriber(bs, "")
				}
				srcs = append(srcs, router.Source{Name: fmt.Sprintf("s%d", i), Source: src})
			}
			recv := newReceiver(n / c.sources * c.sources)
			start, cpu0, pg0 := time.Now(), cpuTime(), pgCPU()
			took := pipelineRun(b, pool, srcs, recv, 16, os.Getenv("BENCH_LOG") == "1")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(recv.want), "µs_cpu/event")
			b.ReportMetric(float64((pgCPU()-pg0).Microseconds())/float64(recv.want), "µs_pg/event")
			var ingested int64
			for _, bs := range bursts {
				ingested = max(ingested, bs.lastAck()-start.UnixNano())
			}
			b.ReportMetric(float64(recv.want)/took.Seconds(), "events/s")
			b.ReportMetric(float64(ingested)/float64(took), "ingest_share")
		})
	}
}

// BenchmarkSinkVsBare is the sink row on its own, for profiling: b.N
// deliveries on each side.
func BenchmarkSinkVsBare(b *testing.B) {
	sink, bare := sinkVsBare(b, max(b.N, 1000))
	b.ReportMetric(sink/bare, "ratio")
	b.ReportMetric(sink, "sink/s")
}
