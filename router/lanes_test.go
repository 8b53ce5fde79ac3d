package router_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/routing"
)

// orderReceiver is a webhook receiver that takes delay per request and
// checks order per key: each event carries {"key","seq"}, seq counting from
// 0 within its key. An event that arrives after a later one of its key, or
// before an earlier one, is a violation; one that arrives again right after
// itself is a repeat.
type orderReceiver struct {
	delay   time.Duration
	failing atomic.Value // string: the key answered with 500, "" for none

	mu         sync.Mutex
	last       map[string]int
	violations []string
	repeats    int
	delivered  int
	inFlight   int
	failures   int
}

func newOrderReceiver(delay time.Duration) *orderReceiver {
	r := &orderReceiver{delay: delay, last: map[string]int{}}
	r.failing.Store("")
	return r
}

func (r *orderReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev struct {
		Key string `json:"key"`
		Seq int    `json:"seq"`
	}
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.inFlight++
	r.mu.Unlock()
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	if ev.Key == r.failing.Load().(string) {
		r.failures++
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	last, seen := r.last[ev.Key]
	switch {
	case seen && ev.Seq == last:
		r.repeats++
	case !seen && ev.Seq != 0, seen && ev.Seq != last+1:
		r.violations = append(r.violations, fmt.Sprintf("%s: %d after %d", ev.Key, ev.Seq, last))
	}
	if !seen || ev.Seq > last {
		r.last[ev.Key] = ev.Seq
	}
	r.delivered++
}

// progress is how many events arrived (repeats included).
func (r *orderReceiver) progress() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered
}

// lastOf is the last seq of key that arrived, -1 for none.
func (r *orderReceiver) lastOf(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.last[key]; ok {
		return v
	}
	return -1
}

// complete says whether every key's events arrived (n per key).
func (r *orderReceiver) complete(keys, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.last) < keys {
		return false
	}
	for _, v := range r.last {
		if v != n-1 {
			return false
		}
	}
	return true
}

// publishOrdered stores n events for each of keys keys straight into the
// pipeline's topic, interleaved (k0 #0, k1 #0, …, k0 #1, …).
func publishOrdered(t testing.TB, pool *pgxpool.Pool, pipeline string, keys, n int) {
	t.Helper()
	pub := pgtopic.NewPublisher(pool)
	var batch []*message.Message
	flush := func() {
		if err := pub.Publish(router.Topic(pipeline), batch...); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for seq := range n {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			batch = append(batch, tributary.NewEventMessage(key+"-"+strconv.Itoa(seq),
				fmt.Appendf(nil, `{"key":%q,"seq":%d}`, key, seq)))
			if len(batch) == 1000 {
				flush()
			}
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// orderedPipeline is the pipeline of the lanes tests: an idle source (the
// events are stored in its topic beforehand) and a webhook sink ordered by
// payload.key; a failure is held back and retried every 300 ms.
func orderedPipeline(t testing.TB, name, receiverURL string, lanes, concurrency int) router.Pipeline {
	t.Helper()
	key, err := routing.NewOrderKey("payload.key")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return router.Pipeline{
		Name:    name,
		Sources: []router.Source{{Name: "idle", Source: pipelinetest.NewEventSource()}},
		Sinks: []router.Sink{{Name: "receiver", Publisher: httpSink{url: receiverURL, client: client},
			OrderKey: key.Key, Lanes: lanes, Concurrency: concurrency,
			Retry: &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: middleware.Linear(300*time.Millisecond, 100000)}}},
	}
}

// pauseProxy forwards TCP connections to a server and can stop forwarding
// (both ways) for a while: to the process behind it, its database stalls.
type pauseProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	gate     chan struct{} // closed: forwarding
}

func newPauseProxy(t *testing.T, upstream string) *pauseProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pauseProxy{ln: ln, upstream: upstream, gate: make(chan struct{})}
	close(p.gate)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *pauseProxy) serve(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { p.copy(u, c); done <- struct{}{} }()
	go func() { p.copy(c, u); done <- struct{}{} }()
	<-done
}

func (p *pauseProxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		<-gate
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pauseProxy) pause() (resume func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	p.gate = gate
	return sync.OnceFunc(func() { close(gate) })
}

// childLog collects a child's log lines and counts the fenced ones.
type childLog struct {
	fenced atomic.Int64
}

func (l *childLog) scan(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if strings.Contains(s.Text(), "fenced") {
			l.fenced.Add(1)
		}
	}
}

const (
	lanesKeys   = 1000
	lanesPerKey = 8
)

// TestOrderedLanesUnderFaults: three instances (child processes) deliver
// 8,000 events of 1,000 keys through 32 lanes to a receiver that takes 20 ms
// per request and checks order per key, while one key fails; one instance is
// killed with SIGKILL and restarted, one stopped cleanly and restarted, and
// the third one's database stalls longer than ClaimTTL. No key's events
// arrive out of order; the failing key's events wait (only they) and
// follow in order once it recovers; the stalled instance's late completions
// are refused.
func TestOrderedLanesUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts child processes")
	}
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	publishOrdered(t, pool, "lanes", lanesKeys, lanesPerKey)
	total := lanesKeys * lanesPerKey

	recv := newOrderReceiver(20 * time.Millisecond)
	recv.failing.Store("k7")
	srv := httptest.NewServer(recv)
	defer srv.Close()

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPauseProxy(t, u.Host)
	proxied := *u
	proxied.Host = proxy.ln.Addr().String()

	start := func(name, db string) (*exec.Cmd, *childLog) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLanesChild$")
		cmd.Env = append(os.Environ(), "TRIBUTARY_LANES_CHILD=1", "CHILD_DB="+db, "CHILD_RECEIVER="+srv.URL, "CHILD_NAME="+name)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		l := &childLog{}
		go l.scan(stderr)
		return cmd, l
	}
	stop := func(cmd *exec.Cmd, sig syscall.Signal) {
		_ = cmd.Process.Signal(sig)
		_ = cmd.Wait()
	}
	progressed := func(what string, n int) {
		t.Helper()
		pipelinetest.WaitFor(t, 3*time.Minute, what, func() bool { return recv.progress() >= n })
	}
	a, _ := start("a", dbURL)
	b, _ := start("b", dbURL)
	c, cLog := start("c", proxied.String())
	defer func() {
		for _, cmd := range []*exec.Cmd{a, b, c} {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	progressed("a tenth of the events", total/10)
	stop(a, syscall.SIGKILL) // deliveries in flight: a has 8 lanes at work
	a, _ = start("a2", dbURL)
	t.Logf("killed a at %d events", recv.progress())

	progressed("a third of the events", total/3)
	stop(b, syscall.SIGTERM)
	b, _ = start("b2", dbURL)
	t.Logf("stopped b cleanly at %d events", recv.progress())

	progressed("half the events", total/2)
	resume := proxy.pause()
	t.Logf("c's database stalls at %d events", recv.progress())
	time.Sleep(5 * time.Second) // ClaimTTL is 2 s: a and b take c's lanes over
	resume()
	pipelinetest.WaitFor(t, time.Minute, "c's late completions to be refused", func() bool { return cLog.fenced.Load() > 0 })
	t.Logf("c fenced %d times", cLog.fenced.Load())

	progressed("most events", total*3/4)
	if got := recv.lastOf("k7"); got != -1 {
		t.Fatalf("the failing key's event %d arrived while the receiver refused it", got)
	}
	recv.failing.Store("")
	pipelinetest.WaitFor(t, 3*time.Minute, "every event", func() bool { return recv.complete(lanesKeys, lanesPerKey) })

	recv.mu.Lock()
	defer recv.mu.Unlock()
	t.Logf("%d deliveries for %d events (%d repeats); the failing key refused %d times", recv.delivered, total, recv.repeats, recv.failures)
	if len(recv.violations) > 0 {
		t.Fatalf("%d per-key order violations, e.g. %v", len(recv.violations), recv.violations[:min(5, len(recv.violations))])
	}
	// What a fault repeats is what the instance had in flight: per lane it
	// worked (8) the event being delivered and the one being completed. The
	// clean stop repeats nothing; the kill and the stall at most 16 each.
	if recv.repeats > 2*8*2 {
		t.Fatalf("%d repeats; want at most 32", recv.repeats)
	}
}

// TestLanesChild is an instance of TestOrderedLanesUnderFaults.
func TestLanesChild(t *testing.T) {
	if os.Getenv("TRIBUTARY_LANES_CHILD") != "1" {
		t.Skip("runs only as a child of TestOrderedLanesUnderFaults")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("CHILD_DB"))
	if err != nil {
		t.Fatal(err)
	}
	pg := router.Postgres(pool)
	pg.ClaimTTL = 2 * time.Second
	pg.PollInterval = 100 * time.Millisecond
	pg.BatchSize = 20
	logger := watermill.NewStdLoggerWithOut(os.Stderr, false, false)
	r, err := router.New(router.Config{Backend: pg, Logger: logger, CloseTimeout: 10 * time.Second},
		orderedPipeline(t, "lanes", os.Getenv("CHILD_RECEIVER"), 32, 8))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOrderedSinkFailurePolicies: with hold, a failing event keeps its key's
// later events back (the other key goes on) and they follow it in order;
// with requeue its key moves on and the event arrives later, out of order.
// An event whose key cannot be computed is poisoned for the sink.
func TestOrderedSinkFailurePolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range []router.FailurePolicy{router.Hold, router.Requeue} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			publishOrdered(t, pool, "policy", 2, 3) // k0-0 k1-0 k0-1 k1-1 k0-2 k1-2
			if err := pgtopic.NewPublisher(pool).Publish(router.Topic("policy"),
				tributary.NewEventMessage("bad-key", []byte(`{"key":{"not":"a string"},"seq":0}`))); err != nil {
				t.Fatal(err)
			}
			var failing atomic.Bool
			failing.Store(true)
			sink := pipelinetest.NewSink(func(m *message.Message) error {
				if tributary.EventID(m) == "k0-0" && failing.Load() {
					return fmt.Errorf("receiver down for k0")
				}
				return nil
			})
			p := orderedPipeline(t, "policy", "", 4, 0)
			p.Sinks[0].Publisher, p.Sinks[0].OnFailure = sink, policy
			p.Sinks[0].Retry.Schedule = middleware.Linear(100*time.Millisecond, 1000)
			pg := router.Postgres(pool)
			pg.PollInterval = 100 * time.Millisecond
			r, err := router.New(router.Config{Backend: pg}, p)
			if err != nil {
				t.Fatal(err)
			}
			pipelinetest.RunRouter(t, r)
			pipelinetest.WaitFor(t, time.Minute, "the other key", func() bool { return sink.Count("k1-2") == 1 })
			var poisoned int
			pipelinetest.WaitFor(t, time.Minute, "the event without a key to be poisoned", func() bool {
				err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_poison WHERE event_id = 'bad-key'`).Scan(&poisoned)
				return err == nil && poisoned == 1
			})
			if policy == router.Hold {
				time.Sleep(300 * time.Millisecond) // k0's retries come and go
				if n := sink.Count("k0-1") + sink.Count("k0-2"); n != 0 {
					t.Fatalf("hold: %d later events of the failing key were delivered", n)
				}
			} else {
				pipelinetest.WaitFor(t, time.Minute, "requeue: the key to move on", func() bool { return sink.Count("k0-2") == 1 })
			}
			failing.Store(false)
			pipelinetest.WaitFor(t, time.Minute, "the failed event and its key", func() bool {
				return sink.Count("k0-0") == 1 && sink.Count("k0-1") == 1 && sink.Count("k0-2") == 1
			})
			var k0 []string
			for _, id := range sink.Order() {
				if strings.HasPrefix(id, "k0-") {
					k0 = append(k0, id)
				}
			}
			want := []string{"k0-0", "k0-1", "k0-2"}
			if policy == router.Requeue {
				want = []string{"k0-1", "k0-2", "k0-0"}
			}
			if fmt.Sprint(k0) != fmt.Sprint(want) {
				t.Fatalf("key k0 delivered as %v, want %v", k0, want)
			}
			// Nothing failed but k0-0: nothing is repeated.
			for id, n := range sink.Counts() {
				if n != 1 {
					t.Fatalf("%s delivered %d times", id, n)
				}
			}
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_poison`).Scan(&poisoned); err != nil || poisoned != 1 {
				t.Fatalf("%d poisoned (%v), want 1", poisoned, err)
			}
		})
	}
}

// TestOrderedSinkNeedsPostgres: a backend without lanes refuses an ordered
// sink when the router is built, saying why; so do settings without a key.
func TestOrderedSinkNeedsPostgres(t *testing.T) {
	t.Parallel()
	p := orderedPipeline(t, "refused", "http://127.0.0.1:9/", 4, 0)
	for _, backend := range []router.Backend{router.Memory(), router.JetStream(router.JetStreamConfig{URL: "nats://127.0.0.1:1"})} {
		_, err := router.New(router.Config{Backend: backend}, p)
		if !errors.Is(err, router.ErrOrderingUnsupported) {
			t.Fatalf("%T: %v, want ErrOrderingUnsupported", backend, err)
		}
	}
	p.Sinks[0].OrderKey = nil
	if _, err := router.New(router.Config{Backend: router.Memory()}, p); err == nil || !strings.Contains(err.Error(), "need order_by") {
		t.Fatalf("lanes without a key: %v", err)
	}
}

// TestSinkNoLongerOrderedGetsItsFiledEvents: events an ordered sink filed
// into lanes and never delivered are delivered once the sink is no longer
// ordered (nothing is stranded in its lanes).
func TestSinkNoLongerOrderedGetsItsFiledEvents(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	publishOrdered(t, pool, "unfile", 5, 4)
	down := pipelinetest.NewSink(func(*message.Message) error { return fmt.Errorf("receiver down") })
	p := orderedPipeline(t, "unfile", "", 4, 0)
	p.Sinks[0].Publisher = down
	run := func(p router.Pipeline) (stop func()) {
		pg := router.Postgres(pool)
		pg.PollInterval = 100 * time.Millisecond
		r, err := router.New(router.Config{Backend: pg}, p)
		if err != nil {
			t.Fatal(err)
		}
		return pipelinetest.RunRouter(t, r)
	}
	stop := run(p)
	pipelinetest.WaitFor(t, time.Minute, "every key held", func() bool {
		st, err := pgtopic.ReadLanes(context.Background(), pool)
		return err == nil && len(st.Held) == 5
	})
	stop()
	up := pipelinetest.NewSink(nil)
	p = orderedPipeline(t, "unfile", "", 4, 0)
	p.Sinks[0] = router.Sink{Name: p.Sinks[0].Name, Publisher: up}
	run(p)
	pipelinetest.WaitFor(t, time.Minute, "every event", func() bool { return up.Distinct() == 20 })
}
