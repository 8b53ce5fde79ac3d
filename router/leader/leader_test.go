package leader_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/leader"
)

// proxy forwards TCP to PostgreSQL until cut: then it drops every
// connection and accepts none (a network partition of one instance).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// poolVia opens a pool on dbURL through the proxy.
func poolVia(t *testing.T, dbURL string, p *proxy) *pgxpool.Pool {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// events records, on this process's monotonic clock, when each instance
// started and stopped each task.
type events struct {
	mu  sync.Mutex
	log []event
}

type event struct {
	at       time.Time
	instance string
	name     string
	start    bool
}

func (e *events) add(instance, name string, start bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, event{time.Now(), instance, name, start})
}

// running returns which instances run name now.
func (e *events) running(name string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	on := map[string]bool{}
	for _, ev := range e.log {
		if ev.name == name {
			on[ev.instance] = ev.start
		}
	}
	for k, v := range on {
		if !v {
			delete(on, k)
		}
	}
	return on
}

// overlaps reports every moment two instances ran one task.
func (e *events) overlaps() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	on := map[string]map[string]bool{}
	var out []string
	for _, ev := range e.log {
		if on[ev.name] == nil {
			on[ev.name] = map[string]bool{}
		}
		if ev.start {
			for other := range on[ev.name] {
				out = append(out, fmt.Sprintf("%s started %s while %s ran it", ev.instance, ev.name, other))
			}
			on[ev.name][ev.instance] = true
		} else {
			delete(on[ev.name], ev.instance)
		}
	}
	return out
}

func startElector(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id string, ttl time.Duration, names []string, ev *events) (stop func()) {
	t.Helper()
	el, err := leader.New(leader.Config{
		Pool: pool, Instance: id, TTL: ttl, Names: names,
		Start: func(n string) { ev.add(id, n, true) },
		Stop:  func(n string) { ev.add(id, n, false) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); el.Run(ctx) }()
	return func() { cancel(); <-done }
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// TestPartitionedLeaderStopsBeforeTakeover cuts the leader off the
// database (a proxy drops its connections and refuses new ones): the
// leader must stop its task on its own deadline before the other instance
// acquires the lease, and the other must take over within TTL + TTL/3.
func TestPartitionedLeaderStopsBeforeTakeover(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	direct := pgtest.PoolFor(t, dbURL)
	u, _ := url.Parse(dbURL)
	px := newProxy(t, u.Host)
	viaProxy := poolVia(t, dbURL, px)

	const ttl = 1500 * time.Millisecond
	names := []string{"p/a", "p/b"}
	ev := &events{}
	ctx := context.Background()
	stopA := startElector(t, ctx, viaProxy, "a", ttl, names, ev)
	defer stopA()
	waitUntil(t, 5*time.Second, "a to lead both", func() bool { return ev.running("p/a")["a"] && ev.running("p/b")["a"] })
	stopB := startElector(t, ctx, direct, "b", ttl, names, ev)
	defer stopB()
	// b is a live instance now: a hands one task over (spread).
	waitUntil(t, 10*time.Second, "the tasks to spread", func() bool {
		return len(ev.running("p/a"))+len(ev.running("p/b")) == 2 &&
			(ev.running("p/a")["b"] || ev.running("p/b")["b"])
	})
	cut := time.Now()
	px.setCut(true)
	waitUntil(t, ttl+ttl/3+3*time.Second, "b to lead both after a was cut off", func() bool {
		return ev.running("p/a")["b"] && ev.running("p/b")["b"]
	})
	took := time.Since(cut)
	if o := ev.overlaps(); len(o) > 0 {
		t.Fatalf("two instances ran a task at once: %v\n%+v", o, ev.log)
	}
	for _, n := range names {
		if ev.running(n)["a"] {
			t.Fatalf("a still runs %s after being cut off", n)
		}
	}
	t.Logf("failover after a partition took %v (TTL %v)", took.Round(time.Millisecond), ttl)

	// a comes back: it must not run anything b runs, and it gets its share again.
	px.setCut(false)
	waitUntil(t, 10*time.Second, "a to get its share back", func() bool {
		return ev.running("p/a")["a"] || ev.running("p/b")["a"]
	})
	if o := ev.overlaps(); len(o) > 0 {
		t.Fatalf("two instances ran a task at once: %v", o)
	}
}

// TestSourcesSpreadOverInstances starts one instance with six tasks, then
// two more: each ends with two, and none is run twice. When one stops
// cleanly, the other two take its tasks at once (resign), not after a TTL.
func TestSourcesSpreadOverInstances(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	names := []string{"p/1", "p/2", "p/3", "p/4", "p/5", "p/6"}
	ev := &events{}
	const ttl = 3 * time.Second
	count := func(id string) int {
		n := 0
		for _, name := range names {
			if ev.running(name)[id] {
				n++
			}
		}
		return n
	}
	stopA := startElector(t, context.Background(), pool, "a", ttl, names, ev)
	defer stopA()
	waitUntil(t, 5*time.Second, "a to lead all six", func() bool { return count("a") == 6 })
	stopB := startElector(t, context.Background(), pool, "b", ttl, names, ev)
	defer stopB()
	stopC := startElector(t, context.Background(), pool, "c", ttl, names, ev)
	waitUntil(t, 20*time.Second, "two tasks each", func() bool { return count("a") == 2 && count("b") == 2 && count("c") == 2 })
	stopped := time.Now()
	stopC()
	waitUntil(t, ttl, "c's tasks taken over before its leases could expire", func() bool { return count("a")+count("b") == 6 })
	t.Logf("a clean stop handed its tasks over in %v", time.Since(stopped).Round(time.Millisecond))
	if o := ev.overlaps(); len(o) > 0 {
		t.Fatalf("two instances ran a task at once: %v", o)
	}
	st, err := leader.ReadStatus(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 2 || len(st.Leases) != 6 {
		t.Fatalf("status: %+v", st)
	}
}

// TestTakeoverWaitsForASlowStop cuts off a leader whose tasks take longer
// than Margin to stop once Stop is called (a socket leaving, a batch being
// stored while the database is slow): the instance taking over a lease
// that ran out must not start a task before the cut-off leader finished
// stopping it. Grace (Margin by default) gives it that time.
func TestTakeoverWaitsForASlowStop(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	direct := pgtest.PoolFor(t, dbURL)
	u, _ := url.Parse(dbURL)
	px := newProxy(t, u.Host)
	viaProxy := poolVia(t, dbURL, px)

	const ttl = 1500 * time.Millisecond
	const slowStop = 650 * time.Millisecond // Margin (375 ms) < slowStop < Margin + Grace
	names := []string{"p/1", "p/2", "p/3", "p/4", "p/5", "p/6"}
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	elA, err := leader.New(leader.Config{
		Pool: viaProxy, Instance: "a", TTL: ttl, Names: names,
		Start: func(n string) { ev.add("a", n, true) },
		Stop:  func(n string) { time.AfterFunc(slowStop, func() { ev.add("a", n, false) }) },
		Stopped: func(ctx context.Context, n string) bool {
			for ev.running(n)["a"] {
				select {
				case <-ctx.Done():
					return false
				case <-time.After(10 * time.Millisecond):
				}
			}
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan struct{})
	go func() { defer close(doneA); elA.Run(ctx) }()
	defer func() { cancel(); <-doneA }()
	waitUntil(t, 5*time.Second, "a to lead all", func() bool {
		for _, n := range names {
			if !ev.running(n)["a"] {
				return false
			}
		}
		return true
	})
	stopB := startElector(t, context.Background(), direct, "b", ttl, names, ev)
	defer stopB()
	waitUntil(t, 15*time.Second, "the tasks to spread", func() bool {
		a, b := 0, 0
		for _, n := range names {
			r := ev.running(n)
			if r["a"] {
				a++
			}
			if r["b"] {
				b++
			}
		}
		return a == 3 && b == 3
	})
	px.setCut(true)
	waitUntil(t, ttl+ttl/3+ttl+3*time.Second, "b to lead all after a was cut off", func() bool {
		for _, n := range names {
			if r := ev.running(n); !r["b"] || r["a"] {
				return false
			}
		}
		return true
	})
	if o := ev.overlaps(); len(o) > 0 {
		t.Fatalf("a task started on b before a finished stopping it: %v", o)
	}
}
