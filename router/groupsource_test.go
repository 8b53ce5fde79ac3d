package router_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// groupSource hands its events on in groups, one group in flight, the way
// a source reading pages does: a group that fails is handed on again whole
// (its cursor stays where the group began).
type groupSource struct {
	groups [][]string
	mu     sync.Mutex
	// acked are the ids acked, in order; tries counts hand-ons per group.
	acked  []string
	tries  []int
	closed bool
}

func (s *groupSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	s.mu.Lock()
	s.tries = make([]int, len(s.groups))
	s.mu.Unlock()
	go func() {
		defer func() {
			<-ctx.Done()
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			stopped(nil)
		}()
		for g, ids := range s.groups {
			for ctx.Err() == nil {
				msgs := make([]*message.Message, len(ids))
				for i, id := range ids {
					msgs[i] = tributary.NewEventMessage(id, []byte(`{}`))
				}
				s.mu.Lock()
				s.tries[g]++
				s.mu.Unlock()
				if err := emit(ctx, msgs...); err != nil {
					continue
				}
				s.mu.Lock()
				for _, m := range msgs {
					s.acked = append(s.acked, m.Metadata.Get(tributary.MetaEventID))
				}
				s.mu.Unlock()
				break
			}
		}
	}()
	return nil
}

func (s *groupSource) snapshot() (acked []string, tries []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil { // not started yet
		return nil, make([]int, len(s.groups))
	}
	return slices.Clone(s.acked), slices.Clone(s.tries)
}

// TestGroupSource: a source that hands on groups, run by the router with
// or without leadership: every event is stored, delivered once, and the
// source is stopped when the router stops.
func TestGroupSource(t *testing.T) {
	t.Parallel()
	for _, led := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "led"}[led], func(t *testing.T) {
			t.Parallel()
			ids := pipelinetest.EventIDs("g", 30)
			src := &groupSource{groups: [][]string{ids[:10], ids[10:25], ids[25:]}}
			sink := pipelinetest.NewSink(nil)
			cfg := router.Config{Backend: router.Memory()}
			source := router.Source{Name: "g", Source: src}
			if led {
				cfg = router.Config{Backend: router.Postgres(pgtest.NewPool(t)), Leadership: &router.Leadership{}}
			}
			r, err := router.New(cfg, router.Pipeline{Name: "groups", Sources: []router.Source{source},
				Sinks: []router.Sink{{Name: "s", Publisher: sink}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			pipelinetest.WaitFor(t, 10*time.Second, "delivery", func() bool { return sink.Distinct() == len(ids) })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			acked, _ := src.snapshot()
			if !slices.Equal(acked, ids) || !src.closed {
				t.Fatalf("acked %v, closed %v; want %v acked", acked, src.closed, ids)
			}
			for _, id := range ids {
				if sink.Count(id) != 1 {
					t.Fatalf("%s delivered %d times", id, sink.Count(id))
				}
			}
		})
	}
}

// TestGroupAckedOnlyAfterCommit breaks the database in the middle of a
// group (a constraint refuses its sixth event): nothing of the group may be
// stored or acked, and the source hands it on again whole until the
// database is repaired. Then every group is stored in one transaction each,
// in the source's order within and across groups, and duplicates (of an
// earlier group, and within a group) are acked but stored once.
func TestGroupAckedOnlyAfterCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	g0 := pipelinetest.EventIDs("a", 10)
	g1 := pipelinetest.EventIDs("b", 10)
	// g2 repeats an event of g0 and one of its own.
	g2 := []string{"c-0", g0[3], "c-1", "c-1", "c-2"}
	src := &groupSource{groups: [][]string{g0, g1, g2}}
	if _, err := pool.Exec(ctx, `ALTER TABLE tributary_messages ADD CONSTRAINT broken
		CHECK (metadata->>'tributary_event_id' <> '`+g1[5]+`')`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Metrics: reg}, router.Pipeline{
		Name: "grp", Sources: []router.Source{{Name: "g", Source: src}},
		Sinks: []router.Sink{{Name: "s", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 20*time.Second, "the broken group to fail twice", func() bool {
		_, tries := src.snapshot()
		return tries[1] >= 3
	})
	acked, _ := src.snapshot()
	if !slices.Equal(acked, g0) {
		t.Fatalf("acked %v while the second group could not be stored; want only %v", acked, g0)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_messages WHERE topic = 'tributary.grp'
		AND metadata->>'tributary_event_id' LIKE 'b%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Fatalf("%d events of the failed group were stored; want none", stored)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE tributary_messages DROP CONSTRAINT broken`); err != nil {
		t.Fatal(err)
	}
	want := append(append(slices.Clone(g0), g1...), "c-0", "c-1", "c-2")
	pipelinetest.WaitFor(t, 20*time.Second, "every event delivered", func() bool { return sink.Distinct() == len(want) })
	for _, id := range want {
		if sink.Count(id) != 1 {
			t.Fatalf("%s delivered %d times", id, sink.Count(id))
		}
	}
	// The sink can have the last group before the source has recorded its
	// acks (delivery starts at the commit, as handle returns): wait for them.
	all := append(append(slices.Clone(g0), g1...), g2...)
	deadline := time.Now().Add(10 * time.Second)
	for acked, _ = src.snapshot(); !slices.Equal(acked, all); acked, _ = src.snapshot() {
		if time.Now().After(deadline) {
			t.Fatalf("acked %v, want %v", acked, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rows, err := pool.Query(ctx, `SELECT metadata->>'tributary_event_id', xmin::text FROM tributary_messages
		WHERE topic = 'tributary.grp' ORDER BY "offset"`)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	txs := map[string]map[string]bool{} // group prefix → transactions
	for rows.Next() {
		var id, tx string
		if err := rows.Scan(&id, &tx); err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
		if txs[id[:1]] == nil {
			txs[id[:1]] = map[string]bool{}
		}
		txs[id[:1]][tx] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, want) {
		t.Fatalf("topic order %v, want %v", order, want)
	}
	for p, set := range txs {
		if len(set) != 1 {
			t.Fatalf("group %q stored in %d transactions, want 1", p, len(set))
		}
	}
	deduped := pipelinetest.MetricValue(t, reg, "tributary_events_deduped_total", "pipeline", "grp", "source", "g")
	if deduped != 2 {
		t.Fatalf("deduped %v, want 2", deduped)
	}
}
