package etagpoll

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/backoff"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/tributarytest"
)

// clock compresses the source's waits: it records each wait asked for and
// sleeps at most max of it, so a 60 s interval costs the test milliseconds
// while the test can still check what was asked for.
type clock struct {
	mu    sync.Mutex
	waits []time.Duration
	max   time.Duration
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return backoff.Sleep(ctx, min(d, c.max))
}

func (c *clock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// savingStore wraps the real Postgres checkpoint store and records every
// state saved, with the number of events the consumer had acked by then.
type savingStore struct {
	*checkpoint.Store
	mu     sync.Mutex
	saves  []State
	failOn func(State) error
}

func (s *savingStore) Save(ctx context.Context, key string, v any) error {
	st := v.(State)
	s.mu.Lock()
	failOn := s.failOn
	s.mu.Unlock()
	if failOn != nil {
		if err := failOn(st); err != nil {
			return err
		}
	}
	if err := s.Store.Save(ctx, key, v); err != nil {
		return err
	}
	s.mu.Lock()
	s.saves = append(s.saves, st)
	s.mu.Unlock()
	return nil
}

func (s *savingStore) setFailOn(f func(State) error) {
	s.mu.Lock()
	s.failOn = f
	s.mu.Unlock()
}

// checkNoLoss makes every save assert the source's promise: a state may
// cover (by its cursor or its ETag) only events the consumer has acked.
func (s *savingStore) checkNoLoss(t testing.TB, api *fakeAPI, c *collector) {
	s.setFailOn(func(st State) error {
		got := c.distinct()
		var covered []fakeEvent
		if st.ETag != "" {
			covered = api.eventsCoveredBy(st.ETag)
		}
		for _, e := range api.all() {
			if !e.CreatedAt.After(st.Cursor) {
				covered = append(covered, e)
			}
		}
		for _, e := range covered {
			if !e.CreatedAt.Before(st.Start) && got[e.ID] == 0 {
				t.Errorf("checkpoint %+v saved while event %s (created %s) was not acked", st, e.ID, e.CreatedAt)
			}
		}
		return nil
	})
}

func (s *savingStore) saved() []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.saves)
}

// newTestSource builds a source on api with compressed waits; mod adjusts cfg.
func newTestSource(t testing.TB, api *fakeAPI, store Checkpointer, name string, mod func(*Config)) (*Source, *clock, *pipelinetest.Logger) {
	t.Helper()
	cfg := Config{
		BaseURL:     api.srv.URL,
		Checkpoints: store,
		PageSize:    10,
	}
	if mod != nil {
		mod(&cfg)
	}
	log := &pipelinetest.Logger{}
	s, err := NewSource(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Instrument(nil, "", name) // as a router does: the name comes from the pipeline
	c := &clock{max: 2 * time.Millisecond}
	s.sleep = c.sleep
	return s, c, log
}

// collector stands in for the router where the router is not the point: it
// acks every message (optionally nacking each one's first delivery) and
// records the event ids in the order acked.
type collector struct {
	mu        sync.Mutex
	ids       []string
	msgs      []*message.Message
	nackFirst bool
	nacked    map[string]bool
	done      chan struct{}
}

func collect(t testing.TB, s *Source, nackFirst bool) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := subscribe(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{nackFirst: nackFirst, nacked: map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for msg := range ch {
			id := tributary.EventID(msg)
			c.mu.Lock()
			if c.nackFirst && !c.nacked[id] {
				c.nacked[id] = true
				c.mu.Unlock()
				msg.Nack()
				continue
			}
			c.ids = append(c.ids, id)
			c.msgs = append(c.msgs, msg)
			c.mu.Unlock()
			msg.Ack()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("source did not close its channel after ctx was cancelled")
		}
	})
	return c
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

func (c *collector) distinct() map[string]int {
	m := map[string]int{}
	for _, id := range c.got() {
		m[id]++
	}
	return m
}

func (c *collector) has(ids []string) bool {
	d := c.distinct()
	for _, id := range ids {
		if d[id] == 0 {
			return false
		}
	}
	return true
}

func missing(got map[string]int, want []string) []string {
	var out []string
	for _, id := range want {
		if got[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// subscribe starts s with the test kit's Emit (tributarytest.Start): its
// messages come on the channel, each stored once acked; runs remembers the
// run for stop.
func subscribe(ctx context.Context, s *Source) (<-chan *message.Message, error) {
	r, err := tributarytest.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	runs.Store(s, r)
	return r.Messages, nil
}

var runs sync.Map // *Source → *tributarytest.Run

// stop stops the run subscribe started and waits for it.
func stop(s *Source) error {
	if r, ok := runs.LoadAndDelete(s); ok {
		return r.(*tributarytest.Run).Stop()
	}
	return nil
}
