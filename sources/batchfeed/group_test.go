package batchfeed

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

// TestGroupFailsWholeBeforeComplete runs the source with an Emit that fails each batch's group the first
// time: the batch is handed on again whole, it is completed only after its
// group was stored, and the events arrive once each, in feed order.
func TestGroupFailsWholeBeforeComplete(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	want := notificationIDs(f.Generate("journey", 25)) // three batches of up to 10
	src := newTestSource(t, Config{BaseURL: srv.URL, FeedID: "journey",
		PollInterval: time.Hour, Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	var (
		mu     sync.Mutex
		stored []string
		tries  [][]string
	)
	handle := func(_ context.Context, msgs ...*message.Message) error {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = tributary.EventID(m)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(f.Completed("journey"))*10 != len(stored) {
			t.Errorf("a batch was completed before its group was stored (completed %v, stored %d)", f.Completed("journey"), len(stored))
		}
		tries = append(tries, ids)
		if len(tries)%2 == 1 {
			return errors.New("database down")
		}
		stored = append(stored, ids...)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stopped := make(chan error, 1)
	if err := src.Start(ctx, handle, func(err error) { stopped <- err }); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "every batch completed", func() bool { return len(f.Completed("journey")) == 3 })
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	if len(tries) != 6 {
		t.Fatalf("%d hand-ons, want 6 (each batch twice): %v", len(tries), tries)
	}
	for i := 0; i < len(tries); i += 2 {
		if !slices.Equal(tries[i], tries[i+1]) {
			t.Fatalf("group %v failed and was not handed on again whole: %v", tries[i], tries[i+1])
		}
	}
}
