package etagpoll

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestLateEventsAfterTheLastChange: an event may become visible after newer
// ones (replication lag, a slow transaction). When nothing newer follows it,
// the provider's ?limit=1 probe keeps its ETag (the newest event did not
// change) and answers 304. Every event that becomes visible within the
// overlap (5 min) of the newest createdAt must still be delivered — for any
// offset between the provider's createdAt clock and its Date header — and
// once the overlap has passed without a change, the source must go back to
// probing alone.
func TestLateEventsAfterTheLastChange(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const overlap = 5 * time.Minute
	tests := []struct {
		name      string
		stampSkew time.Duration // createdAt clock minus the Date header's clock
		stream    bool          // 500 events with late ones throughout, not one burst
		restart   bool          // the process restarts between the last change and the late events
	}{
		{name: "one late event at the last moment", stampSkew: 0},
		{name: "createdAt clock 4m behind Date", stampSkew: -4 * time.Minute},
		{name: "createdAt clock 4m ahead of Date", stampSkew: 4 * time.Minute},
		{name: "restart after the last change", stampSkew: 0, restart: true},
		{name: "stream of 500 with late ones", stampSkew: 0, stream: true},
		{name: "stream of 500, createdAt clock 3m behind", stampSkew: -3 * time.Minute, stream: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, "page", 25)
			p.stampSkew = tc.stampSkew
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			name := fmt.Sprintf("late-%d", i)
			src, clk, log := newSteppedSource(t, p, nil, store, name, nil)
			c := collect(t, src, false)
			delivered := func() map[string]int { return c.distinct() }
			clk.idle(t) // the start-up spread
			clk.step(t) // the first poll: the source picks its start
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var want []string
			if tc.stream {
				// Events arrive every poll, a tenth of them late by up to
				// 3 minutes; late ones are caught by the next change's
				// overlap re-read.
				for len(want) < 500 {
					for range rng.IntN(26) {
						age := time.Duration(0)
						// Late only once the start is minutes behind, so that
						// no late event is stamped before it.
						if len(want) > 50 && rng.IntN(10) == 0 {
							age = 10*time.Second + time.Duration(rng.Int64N(int64(170*time.Second)))
						}
						want = append(want, p.publish(1, age)...)
					}
					clk.step(t)
				}
			} else {
				// Minutes after the start, so that no late event is stamped
				// before it.
				for range 3 {
					clk.step(t)
				}
				want = append(want, p.publish(5, 0)...)
				clk.step(t)
			}
			// The stream has ended: nothing newer than head follows. Late
			// events now become visible, below head, until the last moment
			// within the overlap of head's createdAt — in the createdAt
			// clock, which runs at stampSkew from the provider's time.
			head := p.newest()
			if tc.restart {
				clk.step(t)
				if err := stop(src); err != nil {
					t.Fatal(err)
				}
				before := c.distinct()
				src2, _, log2 := newSteppedSource(t, p, clk, store, name, nil)
				c2 := collect(t, src2, false)
				clk.idle(t)
				log = log2
				delivered = func() map[string]int {
					m := c2.distinct()
					for id, n := range before {
						m[id] += n
					}
					return m
				}
			}
			lateSeen := 0
			for {
				d := clk.step(t)
				visible := clk.now().Add(tc.stampSkew) // in the createdAt clock
				if visible.After(head.Add(overlap)) {
					break
				}
				last := visible.Add(d).After(head.Add(overlap))
				if last || rng.IntN(2) == 0 {
					age := visible.Sub(head) + time.Second + time.Duration(rng.Int64N(int64(3*time.Minute)))
					want = append(want, p.publish(1, age)...)
					lateSeen++
				}
			}
			if lateSeen == 0 {
				t.Fatal("the test published no late event after the last change")
			}
			for range 12 {
				clk.step(t)
			}
			if m := missing(delivered(), want); len(m) > 0 {
				t.Fatalf("%d of %d events never delivered, e.g. %v", len(m), len(want), m[:min(len(m), 5)])
			}
			if errs := log.Lines("ERROR"); len(errs) > 0 {
				t.Errorf("errors logged: %q", errs)
			}
			// The extra reads are bounded: well after the overlap has passed
			// without a change, a poll is a probe alone again.
			before := p.fetches()
			for range 5 {
				clk.step(t)
			}
			if n := p.fetches() - before; n != 0 {
				t.Errorf("%d fetches in 5 quiet polls long after the last change: the window is re-read without end", n)
			}
		})
	}
}
