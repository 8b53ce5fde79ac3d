package router_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// The isolation scenarios of a hanging receiver: a healthy sink fed by live
// ingest must keep its latency while, elsewhere, a delivery hangs or a
// session sits idle in a transaction that wrote a row.
type isolation int

const (
	alone          isolation = iota // the healthy pipeline alone: the baseline
	samePipeline                    // (a) a hanging sink beside it in its pipeline
	otherPipeline                   // (b) a hanging sink in another pipeline of the same router
	otherDatabase                   // (c) a hanging sink of a router on another database of the server
	idleForeignTxn                  // (d) a foreign session idle in a transaction that wrote a row
)

func (s isolation) String() string {
	return [...]string{"alone", "same_pipeline", "other_pipeline", "other_database", "idle_foreign_txn"}[s]
}

// tickSource emits an event every interval, stamped with its send time, and
// redelivers each until it is acked.
type tickSource struct {
	prefix   string
	interval time.Duration
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	acked    map[string]time.Time // event id → when it was stored (acked)
}

func newTickSource(prefix string, interval time.Duration) *tickSource {
	return &tickSource{prefix: prefix, interval: interval, closed: make(chan struct{}), acked: map[string]time.Time{}}
}

func (s *tickSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-t.C:
			case <-s.closed:
				return
			case <-ctx.Done():
				return
			}
			id := fmt.Sprintf("%s-%06d", s.prefix, i)
			sent := strconv.FormatInt(time.Now().UnixNano(), 10)
			for {
				m := tributary.NewEventMessage(id, []byte(`{}`))
				m.Metadata.Set("sent_at", sent)
				select {
				case out <- m:
				case <-s.closed:
					return
				case <-ctx.Done():
					return
				}
				select {
				case <-m.Acked():
					s.mu.Lock()
					s.acked[id] = time.Now()
					s.mu.Unlock()
				case <-m.Nacked():
					continue
				case <-s.closed:
					return
				}
				break
			}
		}
	}()
	return out, nil
}

// storedBetween lists the events stored in [from, to).
func (s *tickSource) storedBetween(from, to time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, at := range s.acked {
		if !at.Before(from) && at.Before(to) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *tickSource) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

// latencyReceiver records, per event, the time from its source handing it
// on to its arrival here.
type latencyReceiver struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	latency []time.Duration
}

func newLatencyReceiver() *latencyReceiver { return &latencyReceiver{arrived: map[string]time.Time{}} }

func (r *latencyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	sent, _ := strconv.ParseInt(req.Header.Get("X-Sent-At"), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	id := req.Header.Get("X-Event-Id")
	if _, ok := r.arrived[id]; !ok {
		r.arrived[id] = now
		r.latency = append(r.latency, now.Sub(time.Unix(0, sent)))
	}
}

// arrivedBefore counts the events of ids that arrived before t.
func (r *latencyReceiver) arrivedBefore(ids []string, t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if at, ok := r.arrived[id]; ok && at.Before(t) {
			n++
		}
	}
	return n
}

func (r *latencyReceiver) p99() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := slices.Clone(r.latency)
	slices.Sort(l)
	if len(l) == 0 {
		return 0
	}
	return l[len(l)*99/100]
}

// hangingReceiver accepts requests and answers none until released.
type hangingReceiver struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	hung    int
}

func newHangingReceiver() *hangingReceiver { return &hangingReceiver{release: make(chan struct{})} }

func (h *hangingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.mu.Lock()
	h.hung++
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-req.Context().Done():
	}
}

func (h *hangingReceiver) hanging() int { h.mu.Lock(); defer h.mu.Unlock(); return h.hung }
func (h *hangingReceiver) stop()        { h.once.Do(func() { close(h.release) }) }

// isolationRun is one scenario: the healthy pipeline runs for warmup, then
// the disturbance lasts for hang, then both end.
type isolationRun struct {
	healthy        *latencyReceiver
	source         *tickSource // the healthy pipeline's
	hangFrom, till time.Time
}

func runIsolation(tb testing.TB, s isolation, warmup, hang, interval time.Duration) isolationRun {
	tb.Helper()
	healthy := newLatencyReceiver()
	hsrv := httptest.NewServer(healthy)
	defer hsrv.Close()
	stuck := newHangingReceiver()
	ssrv := httptest.NewServer(stuck)
	defer ssrv.Close()
	defer stuck.stop()
	// A client that would wait far longer than the hang: the hang, not a
	// timeout, is what the healthy sink must not feel.
	client := &http.Client{Timeout: 10 * time.Minute}
	sink := func(name, url string) router.Sink {
		return router.Sink{Name: name, Publisher: httpSink{url: url, client: client}}
	}

	pool := pgtest.NewPool(tb)
	ticks := newTickSource("h", interval)
	healthyPipeline := router.Pipeline{Name: "healthy",
		Sources: []router.Source{{Name: "ticks", Source: tributary.FromSubscriber(ticks, "ticks")}},
		Sinks:   []router.Sink{sink("ok", hsrv.URL)}}
	stuckPipeline := func() router.Pipeline {
		return router.Pipeline{Name: "stuck",
			Sources: []router.Source{{Name: "ticks", Source: tributary.FromSubscriber(newTickSource("s", interval), "ticks")}},
			Sinks:   []router.Sink{sink("hangs", ssrv.URL)}}
	}
	pipelines := []router.Pipeline{healthyPipeline}
	switch s {
	case samePipeline:
		pipelines[0].Sinks = append(pipelines[0].Sinks, sink("hangs", ssrv.URL))
	case otherPipeline:
		pipelines = append(pipelines, stuckPipeline())
	case otherDatabase:
		other, err := router.New(router.Config{Backend: router.Postgres(pgtest.NewPool(tb)), CloseTimeout: time.Second}, stuckPipeline())
		if err != nil {
			tb.Fatal(err)
		}
		defer pipelinetest.RunRouter(tb, other)()
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), CloseTimeout: time.Second}, pipelines...)
	if err != nil {
		tb.Fatal(err)
	}
	defer pipelinetest.RunRouter(tb, r)()

	time.Sleep(warmup)
	if s == idleForeignTxn {
		conn := foreignSessionIdleInTransaction(tb)
		defer conn.Close(context.Background())
	}
	if s != alone && s != idleForeignTxn {
		pipelinetest.WaitFor(tb, 30*time.Second, "a delivery to hang", func() bool { return stuck.hanging() > 0 })
	}
	from := time.Now()
	time.Sleep(hang)
	return isolationRun{healthy: healthy, source: ticks, hangFrom: from, till: time.Now()}
}

// foreignSessionIdleInTransaction opens a session on another database of the
// server that writes a row (so it holds a transaction id) and then waits:
// an application mid-transaction, nothing to do with Tributary.
func foreignSessionIdleInTransaction(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE foreign_app (v int)`, `BEGIN`, `INSERT INTO foreign_app VALUES (1)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	return conn
}

// TestHangingReceiverStallsNothingElse: while a receiver hangs — in the
// same pipeline, in another pipeline, behind another database on the same
// server — or a foreign session sits idle in a transaction, the healthy
// sink keeps receiving the events ingested meanwhile, before the hang ends.
// (Before pgtopic, every one of these froze it until the hang ended.)
func TestHangingReceiverStallsNothingElse(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: several pipelines against PostgreSQL with a receiver that hangs")
	}
	t.Parallel()
	for _, s := range []isolation{samePipeline, otherPipeline, otherDatabase, idleForeignTxn} {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			const hang, margin = 5 * time.Second, 2 * time.Second
			run := runIsolation(t, s, 500*time.Millisecond, hang, 20*time.Millisecond)
			// Every event stored in the first three seconds of the hang
			// must have reached the healthy receiver before the hang ended
			// (the margin leaves a loaded machine time for the last ones).
			stored := run.source.storedBetween(run.hangFrom, run.till.Add(-margin))
			if len(stored) < 10 {
				t.Fatalf("%s: only %d events were stored during the hang; the test proves nothing", s, len(stored))
			}
			got := run.healthy.arrivedBefore(stored, run.till)
			if got < len(stored) {
				t.Fatalf("%s: %d of the %d events stored early in a %v hang reached the healthy receiver before it ended",
					s, got, len(stored), hang)
			}
			t.Logf("%s: all %d events stored early in the hang reached the healthy receiver during it; p99 latency %v",
				s, got, run.healthy.p99())
		})
	}
}

// BenchmarkIsolation prints the healthy sink's p99 latency (ingest → receiver)
// at 50 events/s alone and beside each disturbance, with the ratio to the
// baseline measured in the same run. Each scenario runs once, whatever b.N.
func BenchmarkIsolation(b *testing.B) {
	const warmup, hang, interval = time.Second, 8 * time.Second, 20 * time.Millisecond
	base := runIsolation(b, alone, warmup, hang, interval).healthy.p99()
	b.ReportMetric(float64(base.Microseconds())/1000, "alone_p99_ms")
	for _, s := range []isolation{samePipeline, otherPipeline, otherDatabase, idleForeignTxn} {
		p99 := runIsolation(b, s, warmup, hang, interval).healthy.p99()
		b.ReportMetric(float64(p99.Microseconds())/1000, s.String()+"_p99_ms")
		b.ReportMetric(float64(p99)/float64(base), s.String()+"_ratio")
		b.Logf("%-17s p99 %8v  (alone %v) ratio %.2f", s, p99, base, float64(p99)/float64(base))
	}
}
