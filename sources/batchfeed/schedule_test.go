package batchfeed

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/feedfake"
)

// TestWaitSchedule records the waits the source asks for instead of taking
// them: errors back off exponentially with jitter, moreAvailable fetches at
// once, Retry-After is honoured, an empty feed (or a batch without moreAvailable) waits the poll
// interval with jitter, and a failed complete backs off too.
func TestWaitSchedule(t *testing.T) {
	t.Parallel()
	f, srv := fakeServer(t, feedfake.Config{})
	f.Generate("journey", 15) // a batch of 10 with moreAvailable, then 5 without
	f.Script("journey", feedfake.OpNext, &feedfake.Fault{Status: 500}, &feedfake.Fault{Status: 429, Header: http.Header{"Retry-After": {"1"}}}, &feedfake.Fault{Body: []byte(`{"batchId":"x"`)})
	f.Script("journey", feedfake.OpComplete, &feedfake.Fault{Status: 500}, &feedfake.Fault{Status: 503})

	src := newTestSource(t, Config{BaseURL: srv.URL, FeedID: "journey",
		PollInterval: time.Second, PollJitter: 0.2,
		Backoff: Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.2}})
	type waited struct {
		why       string
		d         time.Duration
		completed int
		nexts     int
	}
	var mu sync.Mutex
	var waits []waited
	src.waitHook = func(_ context.Context, why string, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, waited{why, d, len(f.Completed("journey")), f.Calls("journey", feedfake.OpNext)})
		return len(waits) < 7 // then stop the loop
	}
	ch, err := subscribe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for m := range ch {
		m.Ack()
		delivered++
	}
	_ = stop(src)

	want := []struct {
		why       string
		min, max  time.Duration
		completed int
		nexts     int
	}{
		{waitBackoff, 80 * time.Millisecond, 120 * time.Millisecond, 0, 1},
		// 429 with Retry-After: 1 wins over the 200 ms backoff.
		{waitBackoff, time.Second, time.Second, 0, 2},
		{waitBackoff, 320 * time.Millisecond, 480 * time.Millisecond, 0, 3},
		// Batch one stored; its complete fails twice (each followed by a
		// probing next that still shows it).
		{waitComplete, 80 * time.Millisecond, 120 * time.Millisecond, 0, 5},
		{waitComplete, 160 * time.Millisecond, 240 * time.Millisecond, 0, 6},
		// Completed; moreAvailable, so batch two is fetched with no wait;
		// it has no moreAvailable, so the poll interval follows.
		{waitPoll, 800 * time.Millisecond, 1200 * time.Millisecond, 2, 7},
		// The feed is empty (204): the poll interval again.
		{waitPoll, 800 * time.Millisecond, 1200 * time.Millisecond, 2, 8},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != len(want) {
		t.Fatalf("waits %+v; want %d", waits, len(want))
	}
	for i, w := range want {
		g := waits[i]
		if g.why != w.why || g.d < w.min || g.d > w.max || g.completed != w.completed || g.nexts != w.nexts {
			t.Errorf("wait %d: %+v; want %s in [%s, %s] after %d completes and %d nexts", i, g, w.why, w.min, w.max, w.completed, w.nexts)
		}
	}
	if delivered != 15 {
		t.Fatalf("delivered %d, want 15", delivered)
	}
}
