package benchtable_test

import (
	"bytes"
	"context"
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
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

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
// receiver has want events, and says how long that took; started, if set,
// runs once the router is starting (to start senders).
func pipelineRun(b *testing.B, pool *pgxpool.Pool, srcs []router.Source, recv *receiver, concurrency int, logged bool, started ...func()) time.Duration {
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
	for _, f := range started {
		f()
	}
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

// cost is one run measured: events/s, and per event the CPU in the
// measured process (sources, router, sink and receiver in this one; the
// binary alone in its row) and in the Postgres cluster, heap allocations in
// the measured process, and the cluster's commits and WAL fsyncs.
type cost struct {
	events         int
	rate           float64
	cpu, pgCPU     time.Duration
	allocs         float64
	commits, syncs float64
}

func (c cost) String() string {
	if c.events == 0 {
		return "—"
	}
	return fmt.Sprintf("**%.0f/s** · CPU %d µs + %d µs PG · %.0f allocs · %.2f transactions, %.2f fsyncs",
		c.rate, c.cpu.Microseconds(), c.pgCPU.Microseconds(), c.allocs, c.commits, c.syncs)
}

// runCost runs run on a fresh database of s and measures it: run returns
// how many events it moved and how long that took; the process's CPU and
// allocations are this one's unless run reports a process of its own
// (proc, non-nil).
func runCost(b *testing.B, s *server, run func(pool *pgxpool.Pool) (events int, took time.Duration, proc *procCost)) cost {
	pool := s.pool(b)
	st0 := s.stats(b)
	cpu0, m0 := cpuTime(), mallocs()
	events, took, proc := run(pool)
	cpu, allocs := cpuTime()-cpu0, float64(mallocs()-m0)
	if proc != nil {
		cpu, allocs = proc.cpu, proc.allocs
	}
	pool.Close()
	st1 := s.stats(b)
	per := func(v float64) float64 { return v / float64(events) }
	return cost{events: events, rate: float64(events) / took.Seconds(),
		cpu: cpu / time.Duration(events), pgCPU: (st1.cpu - st0.cpu) / time.Duration(events),
		allocs: per(allocs), commits: per(float64(st1.commits - st0.commits)), syncs: per(float64(st1.walSyncs - st0.walSyncs))}
}

// procCost is what another measured process used during a run.
type procCost struct {
	cpu    time.Duration
	allocs float64
}

// endToEnd runs n events from `sources` sources (each `inFlight` unacked at
// once) to the receiver.
func endToEnd(b *testing.B, s *server, n, sources, inFlight int, logged bool) cost {
	return endToEndGroups(b, s, n, sources, 0, inFlight, logged)
}

// endToEndGroups is endToEnd with sources that hand on groups of `group`
// events (`inFlight` groups at once); group 0 means one event at a time.
func endToEndGroups(b *testing.B, s *server, n, sources, group, inFlight int, logged bool) cost {
	return runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
		var srcs []router.Source
		for i := range sources {
			var src tributary.Source = tributary.FromSubscriber(newBurstSource(fmt.Sprintf("s%d", i), n/sources, inFlight, 0), "")
			if group > 0 {
				src = newGroupSource(fmt.Sprintf("s%d", i), n/sources, group, inFlight)
			}
			srcs = append(srcs, router.Source{Name: fmt.Sprintf("s%d", i), Source: src})
		}
		recv := newReceiver(n / sources * sources)
		took := pipelineRun(b, pool, srcs, recv, 16, logged)
		return recv.want, took, nil
	})
}

// webhookinRun: `senders` concurrent senders in a process of their own POST
// n events to a webhookin source in this process → topic → the signed
// webhook sink (16 at once) → the receiver.
func webhookinRun(b *testing.B, s *server, n, senders int) cost {
	return runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
		in, err := webhookin.NewSource(webhookin.Config{AllowUnauthenticated: true, MaxConcurrentRequests: senders}, nil)
		if err != nil {
			b.Fatal(err)
		}
		hooks := httptest.NewServer(in)
		defer hooks.Close()
		recv := newReceiver(n)
		var child *exec.Cmd
		took := pipelineRun(b, pool, []router.Source{{Name: "hooks", Source: tributary.FromSubscriber(in, "")}}, recv, 16, false, func() {
			child = startChild(b, "send", "BENCH_SEND_URL="+hooks.URL, "BENCH_SEND_N="+strconv.Itoa(n),
				"BENCH_SEND_C="+strconv.Itoa(senders), "BENCH_SEND_PREFIX=wh-")
		})
		_ = child.Wait()
		return n, took, nil
	})
}

// rawWatermillSQL is the baseline: watermill-sql publishing one message per
// transaction from 8 goroutines, a consumer group reading them.
func rawWatermillSQL(b *testing.B, s *server, n int) cost {
	return runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
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
		return n, time.Since(start), nil
	})
}

// rawLatency is the baseline of the latency rows: watermill-sql publish at
// `rate` events/s, a consumer group receiving; percentiles of publish →
// receive.
func rawLatency(b *testing.B, s *server, rate int, d time.Duration) (p50, p90, p99 time.Duration) {
	pool := s.pool(b)
	defer pool.Close()
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

func latency(b *testing.B, s *server, rate int, d time.Duration) (p50, p90, p99 time.Duration) {
	pool := s.pool(b)
	defer pool.Close()
	n := int(float64(rate) * d.Seconds())
	recv := newReceiver(n)
	src := newBurstSource("l", n, 64, time.Second/time.Duration(rate))
	pipelineRun(b, pool, []router.Source{{Name: "paced", Source: tributary.FromSubscriber(src, "")}}, recv, 16, false)
	return recv.percentiles()
}

// firstAfterIdle is the latency of one event handed on after the pipeline
// sat idle for `idle`.
func firstAfterIdle(b *testing.B, s *server, idle time.Duration) time.Duration {
	pool := s.pool(b)
	defer pool.Close()
	recv := newReceiver(2)
	src := newBurstSource("idle", 2, 1, idle)
	pipelineRun(b, pool, []router.Source{{Name: "idle", Source: tributary.FromSubscriber(src, "")}}, recv, 1, false)
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
func backlog(b *testing.B, s *server, n int) (fill, drain, maxRSS float64) {
	pool := s.pool(b)
	defer pool.Close()
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
	took := pipelineRun(b, pool, []router.Source{{Name: "none", Source: tributary.FromSubscriber(idle, "")}}, recv, 16, false)
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

// row is a line of the table: the durable server's figure (the headline),
// the fsync-off cluster's beside it, and the durable figure against a
// baseline measured on the same server in the same run.
type row struct {
	what, durable, fast, dVsF, baseline, ratio, goal string
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
// BENCH_WRITE=1 writes it into docs/benchmarks.md (between its benchtable
// markers). Every Postgres row runs on two clusters the benchmark starts
// (pgtest.NewCluster, under /var/tmp): a durable one (fsync,
// synchronous_commit, full_page_writes on) and one with fsync off.
// BENCH_EVENTS (20000), BENCH_BACKLOG (200000; 1000000 for the large
// row), BENCH_IDLE (seconds, 10) and BENCH_SENDERS (64) size it.
func BenchmarkTable(b *testing.B) {
	n := envInt("BENCH_EVENTS", 20000)
	senders := envInt("BENCH_SENDERS", 64)
	dur, fst := servers(b)
	load0 := loadAverage()
	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		b.Logf("%s | %s | %s | %s | %s | %s", r.what, r.durable, r.fast, r.dVsF, r.baseline, r.ratio)
	}
	ratio := func(a, base float64) string {
		if base == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", a/base)
	}
	both := func(f func(s *server) cost) (cost, cost) { return f(dur), f(fst) }
	costRow := func(what string, d, f cost, base cost, baseName, goal string) {
		add(row{what, d.String(), f.String(), ratio(d.rate, f.rate), baseName, ratio(d.rate, base.rate), goal})
	}

	rawD, rawF := both(func(s *server) cost { return rawWatermillSQL(b, s, n) })
	add(row{"raw watermill-sql (8 workers, 1 msg/tx, consumer group; CPU here is its publisher and subscriber)",
		rawD.String(), rawF.String(), ratio(rawD.rate, rawF.rate), "—", "—", "baseline"})
	rawName := fmt.Sprintf("raw watermill-sql %.0f/s", rawD.rate)
	for _, c := range []struct {
		sources, inFlight int
		goal              string
	}{{1, 1, "≥ 2,000/s; 1 fsync/event"}, {1, 16, ""}, {4, 1, ""}, {4, 16, "≥ 10,000/s"}} {
		d, f := both(func(s *server) cost { return endToEnd(b, s, n, c.sources, c.inFlight, false) })
		costRow(fmt.Sprintf("end to end, %d source(s) × %d in flight, signed webhook", c.sources, c.inFlight), d, f, rawD, rawName, c.goal)
	}
	for _, c := range []struct {
		sources, group int
		goal           string
	}{{1, 100, "≥ 5,000/s"}, {4, 100, "≥ 10,000/s"}} {
		d, f := both(func(s *server) cost { return endToEndGroups(b, s, n, c.sources, c.group, 1, false) })
		costRow(fmt.Sprintf("end to end, %d source(s), groups of %d, 1 group in flight each", c.sources, c.group), d, f, rawD, rawName, c.goal)
	}
	for _, c := range []struct {
		kind, what string
		sources    int
	}{
		{"etagpoll", "a loopback event log in pages of 100 (handed on in groups of up to 500)", 1},
		{"etagpoll", "a loopback event log in pages of 100 (handed on in groups of up to 500)", 4},
		{"batchfeed", "a loopback feed in batches of 10 (the protocol's most), each a next, a store and a complete", 1},
		{"batchfeed", "a loopback feed in batches of 10 (the protocol's most), each a next, a store and a complete", 4},
	} {
		d, f := both(func(s *server) cost { return loaderGroups(b, s, c.kind, n, c.sources) })
		costRow(fmt.Sprintf("end to end through the pipeline-file loader: %d %s source(s) from %s, webhook sink × 16", c.sources, c.kind, c.what),
			d, f, rawD, rawName, "")
	}
	offD, offF := both(func(s *server) cost { return endToEnd(b, s, n, 1, 16, false) })
	onD, onF := both(func(s *server) cost { return endToEnd(b, s, n, 1, 16, true) })
	add(row{"delivery log ON, 1 source × 16 (baseline: the same with it OFF)", onD.String(), onF.String(), ratio(onD.rate, onF.rate),
		fmt.Sprintf("log OFF %.0f/s (fsync off: %.0f/s, %.2f×)", offD.rate, offF.rate, onF.rate/offF.rate), ratio(onD.rate, offD.rate), "≥ 0.95×"})
	whD, whF := both(func(s *server) cost { return webhookinRun(b, s, n, senders) })
	costRow(fmt.Sprintf("webhookin ← %d senders (another process) → signed webhook sink × 16", senders), whD, whF, rawD, rawName, "≥ 5,000/s, ≤ 150 µs CPU/event")
	binD, binF := both(func(s *server) cost { return binaryRun(b, s, n, senders) })
	costRow(fmt.Sprintf("the binary (`tributary run`, pipeline file): webhookin ← %d senders → webhook sink × 16 (concurrency: 16 in the file), delivery log on; CPU and allocs are the binary's", senders),
		binD, binF, whD, fmt.Sprintf("webhookin in-process %.0f/s", whD.rate), "")

	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	const rate = 1000
	for _, loaded := range []bool{false, true} {
		var stop func()
		what := fmt.Sprintf("latency at %d/s, hand-on → receiver, p50/p90/p99 ms", rate)
		goal := "p99 < 25"
		if loaded {
			stop = spin(b)
			what += ", **one core kept busy by another process**"
			goal = "p99 < 50"
		}
		lat := func(s *server) (string, time.Duration) {
			p50, p90, p99 := latency(b, s, rate, 5*time.Second)
			return ms(p50) + "/" + ms(p90) + "/" + ms(p99), p99
		}
		dl, d99 := lat(dur)
		fl, f99 := lat(fst)
		r50, r90, r99 := rawLatency(b, dur, rate, 5*time.Second)
		if stop != nil {
			stop()
		}
		add(row{what, dl, fl, fmt.Sprintf("%.2f× p99", float64(d99)/float64(f99)),
			"raw " + ms(r50) + "/" + ms(r90) + "/" + ms(r99), fmt.Sprintf("%.2f× p99", float64(d99)/float64(r99)), goal})
	}
	idle := time.Duration(envInt("BENCH_IDLE", 10)) * time.Second
	firstD, firstF := firstAfterIdle(b, dur, idle), firstAfterIdle(b, fst, idle)
	add(row{fmt.Sprintf("first event after %v idle", idle), ms(firstD) + " ms", ms(firstF) + " ms", "", "—", "—", "< 20 ms"})

	sizes := []int{200000}
	if v := envInt("BENCH_BACKLOG", 200000); v != 200000 {
		sizes = append(sizes, v) // BENCH_BACKLOG=1000000 adds the 1M row
	}
	eps := func(v float64) string { return fmt.Sprintf("%.0f/s", v) }
	for _, size := range sizes {
		fill, drain, rss := backlog(b, dur, size)
		add(row{fmt.Sprintf("backlog of %d: fill (batches of 1,000), durable server", size), eps(fill), "", "", "—", "—", ""})
		add(row{fmt.Sprintf("backlog of %d: drain to the webhook receiver, max RSS %.0f MiB, durable server", size, rss), eps(drain), "", "",
			fmt.Sprintf("e2e 1 × 16: %.0f/s", offD.rate), ratio(drain, offD.rate), "keep 12,000/s, < 100 MiB"})
	}
	polled, raw1k := idleETagSources(b), idleRawPolls()
	add(row{"1,000 idle ETag sources (304s every 50 ms), built from a pipeline file, with leadership: memory per source", fmt.Sprintf("%.1f KB", polled.bytesPerSource/1024), "", "",
		fmt.Sprintf("%.1f KB (bare pollers)", raw1k.bytesPerSource/1024), ratio(polled.bytesPerSource, raw1k.bytesPerSource), "< 25 KB"})
	add(row{"1,000 idle ETag sources: goroutines per source", fmt.Sprintf("%.1f", polled.goroutinesPerSrc), "", "",
		fmt.Sprintf("%.1f (bare pollers)", raw1k.goroutinesPerSrc), ratio(polled.goroutinesPerSrc, raw1k.goroutinesPerSrc), "≤ 2"})
	add(row{"1,000 idle ETag sources: CPU per idle poll", fmt.Sprintf("%.0f µs", float64(polled.cpuPerPoll.Microseconds())), "", "",
		fmt.Sprintf("%.0f µs (bare pollers)", float64(raw1k.cpuPerPoll.Microseconds())), ratio(float64(polled.cpuPerPoll), float64(raw1k.cpuPerPoll)), ""})
	if kb, g, err := binaryIdleSources(); err != nil {
		b.Logf("built binary's idle row skipped: %v", err)
	} else {
		add(row{"built binary (`tributary run`, pipeline file), 1,000 idle ETag sources, its own /metrics: RSS per source", fmt.Sprintf("%.1f KB", kb), "", "",
			"—", "—", "< 25 KB"})
		add(row{"built binary, 1,000 idle ETag sources: goroutines per source", fmt.Sprintf("%.2f", g), "", "", "—", "—", "≤ 0.2"})
	}
	sink, bare := sinkVsBare(b, n/2)
	add(row{"webhook sink vs bare net/http loop, signed, 1 goroutine", fmt.Sprintf("%.0f/s", sink), "", "", fmt.Sprintf("bare %.0f/s", bare), ratio(sink, bare), "≥ 0.9×"})

	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "`task bench` (internal/benchtable) on %s: %d cores (GOMAXPROCS %d), %s, two PostgreSQL clusters the benchmark "+
		"starts from the machine's binaries (initdb under /var/tmp; the machine's own server is not used): **durable** (fsync, "+
		"synchronous_commit and full_page_writes on: the headline) and **fsync off** (fsync, synchronous_commit and "+
		"full_page_writes off, as the tests' cluster); %s UTC; load average %s at the start, %s at the end.\n"+
		"%d events per end-to-end row. Each cell: events/s · CPU per event in the measured process (this one: sources, "+
		"router, sink and receiver; the binary's row: the binary) + in the cluster · heap allocations per event in the "+
		"measured process · transactions (pg_stat_database xact_commit, read-only ones included) and WAL fsyncs (pg_stat_wal wal_sync) per event in the cluster. Ratios compare figures of the same run.\n\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04"), load0, loadAverage(), n)
	sb.WriteString("| what | durable server | fsync off | durable ÷ fsync off | baseline (durable, same run) | durable ÷ baseline | goal |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s |\n", r.what, r.durable, r.fast, r.dVsF, r.baseline, r.ratio, r.goal)
	}
	fmt.Println(sb.String())
	if os.Getenv("BENCH_WRITE") == "1" {
		writeTable(b, sb.String())
	}
}

// The table's place in docs/benchmarks.md: between these lines, so the
// notes around it (written by hand) stay.
const (
	tableStart = "<!-- benchtable: start (written by `task bench`) -->"
	tableEnd   = "<!-- benchtable: end -->"
)

func writeTable(b *testing.B, table string) {
	path := filepath.Join("..", "..", "docs", "benchmarks.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), tableStart)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		b.Fatalf("%s has no %q … %q lines to put the table between", path, tableStart, tableEnd)
	}
	out := before + tableStart + "\n" + table + tableEnd + after
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEndToEnd is rows of the table on their own, for profiling: b.N
// events, on the durable cluster (BENCH_FAST=1: the fsync-off one);
// ingest_share is how much of the run the sources took to have everything
// acked (near 1: ingest is the limit). BENCH_LOG=1 turns the delivery log
// on. The webhookin row's senders run in another process, so a
// -cpuprofile of it shows the source, router and sink only.
func BenchmarkEndToEnd(b *testing.B) {
	dur, fst := servers(b)
	srv := dur
	if os.Getenv("BENCH_FAST") == "1" {
		srv = fst
	}
	report := func(b *testing.B, c cost) {
		b.ReportMetric(c.rate, "events/s")
		b.ReportMetric(float64(c.cpu.Microseconds()), "µs_cpu/event")
		b.ReportMetric(float64(c.pgCPU.Microseconds()), "µs_pg/event")
		b.ReportMetric(c.allocs, "allocs/event")
		b.ReportMetric(c.commits, "transactions/event")
		b.ReportMetric(c.syncs, "fsyncs/event")
	}
	for _, c := range []struct{ sources, group, inFlight int }{{1, 0, 1}, {1, 0, 16}, {4, 0, 16}, {1, 100, 1}, {4, 100, 1}} {
		name := fmt.Sprintf("sources=%d/inflight=%d", c.sources, c.inFlight)
		if c.group > 0 {
			name = fmt.Sprintf("sources=%d/groups=%d/inflight=%d", c.sources, c.group, c.inFlight)
		}
		b.Run(name, func(b *testing.B) {
			n := max(b.N, 100)
			var bursts []interface{ lastAck() int64 }
			var start time.Time
			var took time.Duration
			var want int
			c := runCost(b, srv, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
				var srcs []router.Source
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
				start = time.Now()
				took = pipelineRun(b, pool, srcs, recv, 16, os.Getenv("BENCH_LOG") == "1")
				want = recv.want
				return want, took, nil
			})
			report(b, c)
			var ingested int64
			for _, bs := range bursts {
				ingested = max(ingested, bs.lastAck()-start.UnixNano())
			}
			b.ReportMetric(float64(ingested)/float64(took), "ingest_share")
		})
	}
	b.Run("webhookin", func(b *testing.B) {
		report(b, webhookinRun(b, srv, max(b.N, 100), envInt("BENCH_SENDERS", 64)))
	})
	b.Run("binary", func(b *testing.B) {
		report(b, binaryRun(b, srv, max(b.N, 100), envInt("BENCH_SENDERS", 64)))
	})
}

// BenchmarkSinkVsBare is the sink row on its own, for profiling: b.N
// deliveries on each side.
func BenchmarkSinkVsBare(b *testing.B) {
	sink, bare := sinkVsBare(b, max(b.N, 1000))
	b.ReportMetric(sink/bare, "ratio")
	b.ReportMetric(sink, "sink/s")
}

// consoleIndexes are the indexes on tributary_messages that only the
// console's event search reads (migrations 00015, 00018); the hot path
// (ingest, claims, pruning) reads the primary key alone.
var consoleIndexes = []string{"tributary_messages_event_id_idx", "tributary_messages_source_idx",
	"tributary_messages_type_idx", "tributary_messages_created_idx"}

// BenchmarkTopicIndexes is what the console's four indexes on the topic
// cost the hot path: the end-to-end row 4 sources × 16 in flight with them
// and without them (dropped in that run's database), alternating, three
// rounds each, on the fsync-off cluster (where CPU, not the disk, is the
// limit) and the durable one.
func BenchmarkTopicIndexes(b *testing.B) {
	dur, fst := servers(b)
	n := envInt("BENCH_EVENTS", 20000)
	for _, s := range []*server{fst, dur} {
		var with, without []cost
		for round := range 3 {
			for _, drop := range []bool{round%2 == 1, round%2 == 0} {
				c := runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
					if drop {
						for _, ix := range consoleIndexes {
							if _, err := pool.Exec(context.Background(), "DROP INDEX "+ix); err != nil {
								b.Fatal(err)
							}
						}
					}
					var srcs []router.Source
					for i := range 4 {
						srcs = append(srcs, router.Source{Name: fmt.Sprintf("s%d", i), Source: tributary.FromSubscriber(newBurstSource(fmt.Sprintf("s%d", i), n/4, 16, 0), "")})
					}
					recv := newReceiver(n / 4 * 4)
					return recv.want, pipelineRun(b, pool, srcs, recv, 16, false), nil
				})
				if drop {
					without = append(without, c)
				} else {
					with = append(with, c)
				}
			}
		}
		median := func(cs []cost, f func(cost) float64) float64 {
			v := make([]float64, len(cs))
			for i, c := range cs {
				v[i] = f(c)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		rate := func(c cost) float64 { return c.rate }
		pg := func(c cost) float64 { return float64(c.pgCPU.Microseconds()) }
		b.Logf("%s: with the console's indexes %.0f/s, %.0f µs PG/event; without %.0f/s, %.0f µs PG/event (%.2f× the rate, %.2f× the PG CPU)",
			s.name, median(with, rate), median(with, pg), median(without, rate), median(without, pg),
			median(without, rate)/median(with, rate), median(without, pg)/median(with, pg))
	}
}
