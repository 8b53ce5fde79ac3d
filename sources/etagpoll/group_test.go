package etagpoll

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestGroupsStoredBeforeCheckpoint runs the source through
// Start with an Emit that fails each group the first time:
// the failed group is handed on again whole, no checkpoint covers an event
// before its group is stored, and the events arrive once each, oldest
// first, within and across windows.
func TestGroupsStoredBeforeCheckpoint(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	api := newFakeAPI(t)
	store := &savingStore{Store: checkpoint.NewStore(pool)}
	src, _, _ := newTestSource(t, api, store, "groups", nil)
	c := &collector{nacked: map[string]bool{}}
	store.checkNoLoss(t, api, c)
	var tries [][]string // ids of each group handed on
	handle := func(_ context.Context, msgs ...*message.Message) error {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = tributary.EventID(m)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		tries = append(tries, ids)
		if !c.nacked[ids[0]] {
			c.nacked[ids[0]] = true
			return errors.New("database down")
		}
		c.ids = append(c.ids, ids...)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	if err := src.Start(ctx, handle, func(err error) { stopped <- err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	started(t, store)
	var want []string
	for round := range 3 {
		want = append(want, api.add(12+round)...) // more than a page (10): a window of two pages
		pipelinetest.WaitFor(t, 10*time.Second, "the window's events", func() bool { return c.has(want) })
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := c.got(); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want each event once, oldest first: %v", got, want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < len(tries); i += 2 {
		if i+1 >= len(tries) || !slices.Equal(tries[i], tries[i+1]) {
			t.Fatalf("group %v failed and was not handed on again whole (hand-ons %v)", tries[i], tries)
		}
	}
	if len(tries) != 6 {
		t.Fatalf("%d hand-ons, want 6 (a group per window, each twice): %v", len(tries), tries)
	}
}
