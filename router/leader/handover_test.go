package leader_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/leader"
)

// provider is a fake provider that counts, per task, the clients connected
// at once: a task's leader connects on Start and disconnects on Stop (Stop
// returns once the provider saw the disconnect), so most[name] > 1 means two
// instances ran the task at once.
type provider struct {
	ln    net.Listener
	mu    sync.Mutex
	now   map[string]int
	most  map[string]int
	conns map[string]net.Conn // instance+"|"+name → client side
}

func newProvider(t *testing.T) *provider {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &provider{ln: ln, now: map[string]int{}, most: map[string]int{}, conns: map[string]net.Conn{}}
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

func (p *provider) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		return
	}
	name = strings.TrimSpace(name)
	p.mu.Lock()
	p.now[name]++
	p.most[name] = max(p.most[name], p.now[name])
	p.mu.Unlock()
	_, _ = c.Write([]byte("ok\n"))
	_, _ = r.ReadString('\n') // until the client closes
	p.mu.Lock()
	p.now[name]--
	p.mu.Unlock()
}

func (p *provider) connect(t *testing.T, instance, name string) {
	c, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = fmt.Fprintf(c, "%s\n", name)
	_, _ = bufio.NewReader(c).ReadString('\n') // counted
	p.mu.Lock()
	p.conns[instance+"|"+name] = c
	p.mu.Unlock()
}

func (p *provider) disconnect(instance, name string) {
	p.mu.Lock()
	c := p.conns[instance+"|"+name]
	delete(p.conns, instance+"|"+name)
	p.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = bufio.NewReader(c).ReadString('\n') // the provider closes once it counted the leave
	c.Close()
}

func (p *provider) most2() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n, m := range p.most {
		if m > 1 {
			out = append(out, fmt.Sprintf("%s had %d clients at once", n, m))
		}
	}
	return out
}

// releaseGate is a query tracer that holds the first lease release (the
// statement that deletes or frees a resigned lease) once armed, until let
// go: a release slow to reach the database. Lease renewals that start
// before renewsFrom are held until then: a leader slow to look.
type releaseGate struct {
	mu         sync.Mutex
	armed      bool
	reached    chan struct{}
	proceed    chan struct{}
	renewsFrom time.Time
}

func (g *releaseGate) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	isRelease := strings.Contains(d.SQL, "tributary_leases") &&
		(strings.Contains(d.SQL, "DELETE") || strings.Contains(d.SQL, "owner = ''"))
	g.mu.Lock()
	hold := isRelease && g.armed
	if hold {
		g.armed = false
	}
	renewWait := time.Until(g.renewsFrom)
	g.mu.Unlock()
	if strings.Contains(d.SQL, "renewed_at = now()") && renewWait > 0 {
		time.Sleep(renewWait)
	}
	if hold {
		close(g.reached)
		<-g.proceed
	}
	return ctx
}

func (g *releaseGate) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// leaseWatch samples tributary_leases against the tasks' own start/stop
// log: a task an instance runs from before a read until after it, with no
// start or stop of that task in between, must be owned by that instance in
// the row read; and a lease's fence never goes down.
type leaseWatch struct {
	violations []string
	samples    int
}

// add records a violation once.
func (w *leaseWatch) add(v string) {
	if !slices.Contains(w.violations, v) {
		w.violations = append(w.violations, v)
	}
}

func watchLeases(ctx context.Context, pool *pgxpool.Pool, ev *events, names []string) *leaseWatch {
	w := &leaseWatch{}
	fences := map[string]int64{}
	for ctx.Err() == nil {
		before := snapshot(ev)
		rows, err := pool.Query(ctx, `SELECT name, owner, fence, expires_at > now() FROM tributary_leases`)
		if err != nil {
			break
		}
		type row struct {
			owner string
			fence int64
			live  bool
		}
		got := map[string]row{}
		for rows.Next() {
			var n string
			var r row
			if rows.Scan(&n, &r.owner, &r.fence, &r.live) == nil {
				got[n] = r
			}
		}
		rows.Close()
		if rows.Err() != nil {
			break // the watch ended mid-read
		}
		after := snapshot(ev)
		w.samples++
		for _, n := range names {
			if f := got[n].fence; f < fences[n] {
				w.add(fmt.Sprintf("%s's fence went from %d down to %d", n, fences[n], f))
			} else {
				fences[n] = f
			}
			for inst, idx := range before[n] {
				if after[n][inst] != idx {
					continue
				}
				if r := got[n]; r.owner != inst || !r.live {
					w.add(fmt.Sprintf("%s runs %s but the lease row says owner %q (live %v, fence %d)",
						inst, n, r.owner, r.live, r.fence))
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return w
}

// snapshot maps each task to the instances running it, each with the index
// of its start event.
func snapshot(ev *events) map[string]map[string]int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := map[string]map[string]int{}
	for i, e := range ev.log {
		if out[e.name] == nil {
			out[e.name] = map[string]int{}
		}
		if e.start {
			out[e.name][e.instance] = i
		} else {
			delete(out[e.name], e.instance)
		}
	}
	return out
}

// TestResignedLeaseIsNotRetakenBeforeItsRelease forces a hand-over at the
// moment a re-balance would take the lease back: a hands p/2 to b, its
// release is held up on the way to the database, and meanwhile b stops
// (a is alone, so its share grows back to both tasks). a must not take
// p/2 back before its release committed, and the late release must not
// free a lease a took again: otherwise c, started next, leads p/2 while a
// still runs it. Two leaders are looked for by the provider (clients
// connected at once) and by the leases table (a task run by an instance
// whose lease row it does not own).
func TestResignedLeaseIsNotRetakenBeforeItsRelease(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	pgtest.PoolFor(t, dbURL) // migrates
	gate := &releaseGate{reached: make(chan struct{}), proceed: make(chan struct{})}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = gate
	gated, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gated.Close)
	direct := pgtest.PoolFor(t, dbURL)

	const ttl = 1500 * time.Millisecond
	names := []string{"p/1", "p/2"}
	ev := &events{}
	prov := newProvider(t)
	run := func(pool *pgxpool.Pool, id string) (stop func()) {
		el, err := leader.New(leader.Config{
			Pool: pool, Instance: id, TTL: ttl, Names: names,
			Start: func(n string) { prov.connect(t, id, n); ev.add(id, n, true) },
			Stop:  func(n string) { ev.add(id, n, false); prov.disconnect(id, n) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); el.Run(ctx) }()
		return sync.OnceFunc(func() { cancel(); <-done })
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan *leaseWatch, 1)
	go func() { watched <- watchLeases(wctx, direct, ev, names) }()

	stopA := run(gated, "a")
	defer stopA()
	waitUntil(t, 10*time.Second, "a to lead both", func() bool { return ev.running("p/1")["a"] && ev.running("p/2")["a"] })
	gate.mu.Lock()
	gate.armed = true
	gate.mu.Unlock()
	stopB := run(direct, "b")
	defer stopB()
	select {
	case <-gate.reached:
	case <-time.After(20 * time.Second):
		t.Fatal("a never handed a task to b")
	}
	// a's release of p/2 is on its way; b goes away: a re-balances alone.
	stopB()
	retaken := false
	for deadline := time.Now().Add(3 * ttl); time.Now().Before(deadline) && !retaken; time.Sleep(20 * time.Millisecond) {
		retaken = ev.running("p/2")["a"]
	}
	// The release goes through, a is slow to renew, and c joins: a lease
	// the late release freed would be c's while a still runs it.
	gate.mu.Lock()
	gate.renewsFrom = time.Now().Add(ttl / 2)
	gate.mu.Unlock()
	close(gate.proceed)
	stopC := run(direct, "c")
	defer stopC()
	waitUntil(t, 20*time.Second, "a and c to lead one task each", func() bool {
		return len(ev.running("p/1")) == 1 && len(ev.running("p/2")) == 1 &&
			(ev.running("p/1")["c"] || ev.running("p/2")["c"])
	})
	time.Sleep(ttl) // a late loser notices at its next renew
	stopWatch()
	w := <-watched
	if retaken {
		t.Errorf("a took p/2 back while its release of it was still on the way")
	}
	if o := ev.overlaps(); len(o) > 0 {
		t.Errorf("two instances ran a task at once by their own log: %v", o)
	}
	if m := prov.most2(); len(m) > 0 {
		t.Errorf("the provider saw two leaders: %v", m)
	}
	if len(w.violations) > 0 {
		t.Errorf("the leases table disagrees with who runs what (%d samples): %v", w.samples, w.violations)
	}
	if w.samples == 0 {
		t.Fatal("the leases table was never read")
	}
	st, err := leader.ReadStatus(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range st.Leases {
		if l.Name == "p/2" && l.Fence < 2 {
			t.Errorf("p/2 changed hands but its fence is %d: a hand-over restarted the generation", l.Fence)
		}
	}
}
