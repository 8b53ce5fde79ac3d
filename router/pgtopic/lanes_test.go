package pgtopic_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// publishKeyed publishes n events per key for keys k0…k(keys-1),
// interleaved, each with metadata key and seq (its number within its key).
func publishKeyed(t *testing.T, pool *pgxpool.Pool, topic string, keys, n int) {
	t.Helper()
	pub := pgtopic.NewPublisher(pool)
	var msgs []*message.Message
	for i := range n {
		for k := range keys {
			m := message.NewMessage(watermill.NewUUID(), nil)
			m.Metadata.Set("key", "k"+strconv.Itoa(k))
			m.Metadata.Set("seq", strconv.Itoa(i))
			msgs = append(msgs, m)
		}
	}
	for len(msgs) > 0 {
		b := msgs[:min(500, len(msgs))]
		msgs = msgs[len(b):]
		if err := pub.Publish(topic, b...); err != nil {
			t.Fatal(err)
		}
	}
}

func metaKey(m *message.Message) (string, error) { return m.Metadata.Get("key"), nil }

// orderCheck records deliveries per key and counts order violations: an
// event that arrives after a later event of its key was delivered (a
// repeat of the latest is a repeat, not a violation).
type orderCheck struct {
	mu         sync.Mutex
	last       map[string]int
	violations int
	repeats    int
	delivered  atomic.Int64
}

func newOrderCheck() *orderCheck { return &orderCheck{last: map[string]int{}} }

func (o *orderCheck) see(m *message.Message) {
	seq, _ := strconv.Atoi(m.Metadata.Get("seq"))
	key := m.Metadata.Get("key")
	o.mu.Lock()
	defer o.mu.Unlock()
	last, ok := o.last[key]
	switch {
	case ok && seq == last:
		o.repeats++
	case ok && seq < last, !ok && seq != 0, ok && seq > last+1:
		o.violations++
	}
	if !ok || seq > last {
		o.last[key] = seq
	}
	o.delivered.Add(1)
}

func (o *orderCheck) done(keys, n int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.last) < keys {
		return false
	}
	for _, v := range o.last {
		if v != n-1 {
			return false
		}
	}
	return true
}

func laneSub(t *testing.T, db pgtopic.DB, cfg pgtopic.LaneConfig) *pgtopic.LaneSubscriber {
	t.Helper()
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = "g"
	}
	if cfg.Key == nil {
		cfg.Key = metaKey
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	sub, err := pgtopic.NewLaneSubscriber(db, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// handle runs h on every message of ch, each in its own goroutine (as the
// Watermill router does), until ch closes.
func handle(ch <-chan *message.Message, h func(*message.Message) bool) {
	for m := range ch {
		go func() {
			if h(m) {
				m.Ack()
			} else {
				m.Nack()
			}
		}()
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLanesKeepOrderPerKeyAcrossSubscribers: two subscribers of one group
// share 8 lanes; every key's events arrive in order, and more than one is
// under way at once.
func TestLanesKeepOrderPerKeyAcrossSubscribers(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const topic, keys, n = "lanes-order", 40, 10
	publishKeyed(t, pool, topic, keys, n)
	check := newOrderCheck()
	var inFlight, peak atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		sub := laneSub(t, pool, pgtopic.LaneConfig{Lanes: 8, SubscriberConfig: pgtopic.SubscriberConfig{BatchSize: 7, MaxInFlight: 4}})
		defer sub.Close()
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		go handle(ch, func(m *message.Message) bool {
			cur := inFlight.Add(1)
			for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			check.see(m)
			inFlight.Add(-1)
			return true
		})
	}
	waitFor(t, "every event", time.Minute, func() bool { return check.done(keys, n) })
	time.Sleep(200 * time.Millisecond) // a repeat would come now
	check.mu.Lock()
	defer check.mu.Unlock()
	if check.violations != 0 || check.repeats != 0 {
		t.Fatalf("%d per-key order violations, %d repeats (nothing failed)", check.violations, check.repeats)
	}
	if peak.Load() < 2 {
		t.Fatalf("at most %d deliveries at once; want parallel lanes", peak.Load())
	}
}

// TestLanesHoldOnlyTheFailingKey: a key whose deliveries fail is held back
// (its later events wait); every other key is delivered meanwhile; once it
// succeeds, its events follow in order.
func TestLanesHoldOnlyTheFailingKey(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const topic, keys, n = "lanes-hold", 20, 5
	publishKeyed(t, pool, topic, keys, n)
	check := newOrderCheck()
	var failing atomic.Bool
	failing.Store(true)
	var failures atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Two lanes, so the failing key shares its lane with other keys.
	sub := laneSub(t, pool, pgtopic.LaneConfig{Lanes: 2, SubscriberConfig: pgtopic.SubscriberConfig{ResendInterval: 100 * time.Millisecond}})
	defer sub.Close()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	go handle(ch, func(m *message.Message) bool {
		if m.Metadata.Get("key") == "k3" && failing.Load() {
			failures.Add(1)
			return false
		}
		check.see(m)
		return true
	})
	waitFor(t, "every other key", time.Minute, func() bool {
		check.mu.Lock()
		defer check.mu.Unlock()
		for k := range keys {
			if k != 3 && check.last["k"+strconv.Itoa(k)] != n-1 {
				return false
			}
		}
		return true
	})
	check.mu.Lock()
	_, got := check.last["k3"]
	check.mu.Unlock()
	if got || failures.Load() == 0 {
		t.Fatalf("the failing key: delivered %v, %d failures; want held back", got, failures.Load())
	}
	// `tributary status` shows the lanes and the held key, with its oldest
	// event and every event of it waiting.
	st, err := pgtopic.ReadLanes(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Lanes) != 2 || len(st.Held) != 1 || st.Held[0].Key != "k3" || st.Held[0].Attempts == 0 || st.Held[0].Waiting != n {
		t.Fatalf("lane status %+v", st)
	}
	failing.Store(false)
	waitFor(t, "the held key", time.Minute, func() bool { return check.done(keys, n) })
	if check.violations != 0 {
		t.Fatalf("%d per-key order violations", check.violations)
	}
}

// stallDB is a DB whose statements block while stalled (as a database
// that stops answering, or a paused process, looks to its caller).
type stallDB struct {
	*pgxpool.Pool
	mu    sync.Mutex
	gate  chan struct{} // closed: open
	stall atomic.Bool
}

func newStallDB(p *pgxpool.Pool) *stallDB {
	g := make(chan struct{})
	close(g)
	return &stallDB{Pool: p, gate: g}
}

func (d *stallDB) hold() {
	d.mu.Lock()
	d.gate = make(chan struct{})
	d.mu.Unlock()
}

func (d *stallDB) release() {
	d.mu.Lock()
	close(d.gate)
	d.mu.Unlock()
}

func (d *stallDB) wait() {
	d.mu.Lock()
	g := d.gate
	d.mu.Unlock()
	<-g
}

func (d *stallDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	d.wait()
	return d.Pool.Exec(ctx, sql, args...)
}

func (d *stallDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	d.wait()
	return d.Pool.Query(ctx, sql, args...)
}

func (d *stallDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	d.wait()
	return d.Pool.QueryRow(ctx, sql, args...)
}

func (d *stallDB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	d.wait()
	return d.Pool.SendBatch(ctx, b)
}

func (d *stallDB) Begin(ctx context.Context) (pgx.Tx, error) {
	d.wait()
	return d.Pool.Begin(ctx)
}

// TestLaneOwnerStalledPastClaimTTLIsFenced: subscriber A's database stalls
// while it delivers the first event of a one-lane group, for longer than
// ClaimTTL; B takes the lane over and delivers on. When A's database answers
// again, A's late completion is refused and A hands out nothing more: the
// key's order holds (the stalled event is repeated, never overtaken).
func TestLaneOwnerStalledPastClaimTTLIsFenced(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const topic, n = "lanes-fence", 6
	publishKeyed(t, pool, topic, 1, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ttl = time.Second

	check := newOrderCheck()
	var fenced atomic.Int64
	stalled := newStallDB(pool)
	a := laneSub(t, stalled, pgtopic.LaneConfig{Lanes: 1, Key: metaKey, OnFenced: func(int, int64) { fenced.Add(1) },
		SubscriberConfig: pgtopic.SubscriberConfig{ClaimTTL: ttl, Owner: "a"}})
	defer a.Close()
	cha, err := a.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	first := <-cha // A holds the lane and delivers seq 0 …
	stalled.hold() // … when its database stops answering
	check.see(first)

	b := laneSub(t, pool, pgtopic.LaneConfig{Lanes: 1, SubscriberConfig: pgtopic.SubscriberConfig{ClaimTTL: ttl, Owner: "b"}})
	defer b.Close()
	chb, err := b.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var fromA atomic.Int64
	go handle(cha, func(m *message.Message) bool { fromA.Add(1); check.see(m); return true })
	go handle(chb, func(m *message.Message) bool { check.see(m); return true })
	// B takes the lane over after A's lease ran out, repeats seq 0 and
	// delivers the rest.
	waitFor(t, "B to deliver everything", time.Minute, func() bool { return check.done(1, n) })
	first.Ack() // A finishes its delivery late …
	stalled.release()
	waitFor(t, "A's late completion to be refused", 30*time.Second, func() bool { return fenced.Load() > 0 })
	time.Sleep(300 * time.Millisecond)
	if fromA.Load() != 0 {
		t.Fatalf("A handed out %d more events after its lease expired", fromA.Load())
	}
	if check.violations != 0 {
		t.Fatalf("%d order violations", check.violations)
	}
	var pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_lane_events WHERE topic = $1`, topic).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d events still pending (%v)", pending, err)
	}
}

// TestPruneKeepsWhatALaneStillHolds: a message filed into a lane and not
// delivered yet is not pruned, though its group's position is past it.
func TestPruneKeepsWhatALaneStillHolds(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	const topic = "lanes-prune"
	publishKeyed(t, pool, topic, 1, 3)
	for _, q := range []string{
		`INSERT INTO tributary_consumers (topic, consumer_group, position) SELECT $1, 'g', max("offset") FROM tributary_messages WHERE topic = $1`,
		`INSERT INTO tributary_lane_events (topic, consumer_group, "offset", lane, key)
			SELECT $1, 'g', max("offset"), 0, 'k0' FROM tributary_messages WHERE topic = $1`,
	} {
		if _, err := pool.Exec(ctx, q, topic); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := pgtopic.Prune(ctx, pool, topic, 0); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the 2 messages before the one a lane holds", n, err)
	}
}
