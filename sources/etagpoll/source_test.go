package etagpoll

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/tributarytest"
)

const secret = "Bearer s3cr3t-token-value"

// started waits until the source has stored its start (first save), and
// returns the states saved so far.
func started(t *testing.T, store *savingStore) {
	t.Helper()
	pipelinetest.WaitFor(t, 10*time.Second, "the source to store its start", func() bool { return len(store.saved()) > 0 })
}

func TestFlowETagsAndMetadata(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	for _, format := range []string{`W/"%s"`, `"%s"`, `W/"%s/+=;x"`, ""} {
		t.Run(fmt.Sprintf("etag %q", format), func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.etagFmt, api.token = format, secret
			// Older than the overlap the start reaches back by.
			history := []string{api.addLate(10 * time.Minute), api.addLate(10 * time.Minute)}
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			name := "flow" + fmt.Sprint(len(format))
			src, _, log := newTestSource(t, api, store, name, func(c *Config) { c.AuthValue = secret })
			c := collect(t, src, false)
			store.checkNoLoss(t, api, c)
			started(t, store)

			var want []string
			for round := range 3 {
				want = append(want, api.add(3+round)...)
				pipelinetest.WaitFor(t, 10*time.Second, "events of round "+fmt.Sprint(round), func() bool { return c.has(want) })
			}
			// Let a few idle polls happen.
			n := len(api.requests())
			pipelinetest.WaitFor(t, 10*time.Second, "idle polls", func() bool { return len(api.requests()) > n+5 })

			got := c.distinct()
			for _, id := range history {
				if got[id] != 0 {
					t.Errorf("history event %s (before the start) was handed on", id)
				}
			}
			if len(got) != len(want) {
				t.Errorf("got %d distinct events, want %d", len(got), len(want))
			}

			reqs := api.requests()
			if reqs[0].step != "probe" || len(reqs[0].ifNoneMatch) != 0 {
				t.Fatalf("first request %+v: want an unconditional probe", reqs[0])
			}
			api.mu.Lock()
			issued := api.issued
			api.mu.Unlock()
			var notModified int
			for _, r := range reqs {
				if r.status == 401 {
					t.Fatalf("request %+v was refused: the auth header was not sent", r)
				}
				if r.status == 304 {
					notModified++
				}
				if format == "" && len(r.ifNoneMatch) != 0 {
					t.Fatalf("no ETag was ever sent, yet a request carried If-None-Match %q", r.ifNoneMatch)
				}
				for _, v := range r.ifNoneMatch {
					if _, ok := issued[v]; !ok || r.step != "probe" {
						t.Fatalf("%s sent If-None-Match %q: not byte-for-byte an ETag the server sent", r.step, v)
					}
					if strings.HasPrefix(format, "W/") != strings.HasPrefix(v, `W/"`) {
						t.Fatalf("If-None-Match %q lost or gained the W/ prefix", v)
					}
				}
			}
			if format != "" && notModified == 0 {
				t.Fatal("no 304 seen: the probe is not conditional")
			}
			if format == "" && notModified != 0 {
				t.Fatal("304 without an ETag")
			}

			c.mu.Lock()
			msg := c.msgs[0]
			c.mu.Unlock()
			id := tributary.EventID(msg)
			ev := findEvent(api, id)
			if msg.UUID != tributary.MessageUUID(id) ||
				msg.Metadata.Get(tributary.MetaSource) != name ||
				msg.Metadata.Get(tributary.MetaEventType) != "door.request.allowed" ||
				msg.Metadata.Get(MetaCreatedAt) != ev.CreatedAt.UTC().Format(time.RFC3339Nano) ||
				msg.Metadata.Get(MetaTimestamp) != ev.Timestamp.UTC().Format(time.RFC3339Nano) {
				t.Fatalf("message %s %v does not carry event %+v", msg.UUID, msg.Metadata, ev)
			}
			if strings.Contains(log.String(), "s3cr3t") {
				t.Fatal("the auth secret appears in the logs")
			}
		})
	}
}

func findEvent(api *fakeAPI, id string) fakeEvent {
	for _, e := range api.all() {
		if e.ID == id {
			return e
		}
	}
	return fakeEvent{}
}

func TestPagingOldestFirstAndRedelivery(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	tests := []struct {
		name  string
		links bool
		mod   func(*Config)
	}{
		// The server caps pages at 7 although 10 are asked for: a short page
		// is not the end, only an empty one is.
		{"page numbers", false, nil},
		{"offset", false, func(c *Config) { c.Paging = Offset }},
		{"link next", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.maxPage, api.links = 7, tc.links
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			src, _, _ := newTestSource(t, api, store, "paging-"+strings.ReplaceAll(tc.name, " ", "-"), tc.mod)
			c := collect(t, src, true) // nack every first delivery: the source must redeliver
			store.checkNoLoss(t, api, c)
			started(t, store)
			want := api.add(60)
			pipelinetest.WaitFor(t, 20*time.Second, "60 events across pages", func() bool { return c.has(want) })
			got := c.got()
			// First deliveries must be oldest first.
			var firsts []string
			seen := map[string]bool{}
			for _, id := range got {
				if !seen[id] {
					seen[id] = true
					firsts = append(firsts, id)
				}
			}
			if !slices.IsSorted(firsts) {
				t.Fatalf("events not handed on oldest first: %v", firsts)
			}
			c.mu.Lock()
			nacked := len(c.nacked)
			c.mu.Unlock()
			if nacked < 60 {
				t.Fatalf("only %d events were nacked once; the test did not exercise redelivery", nacked)
			}
		})
	}
}

func TestPoliteWaits(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	t.Run("X-Poll-Interval", func(t *testing.T) {
		t.Parallel()
		api := newFakeAPI(t)
		api.interval = "90"
		store := &savingStore{Store: checkpoint.NewStore(pool)}
		src, clk, _ := newTestSource(t, api, store, "polite-xpi", nil)
		collect(t, src, false)
		pipelinetest.WaitFor(t, 10*time.Second, "polls", func() bool { return api.count("probe") >= 5 })
		for _, d := range clk.recorded()[1:] { // [0] is the start-up spread
			if d < 90*time.Second || d > 99*time.Second {
				t.Fatalf("wait %s, want the server's 90 s plus jitter", d)
			}
		}
	})
	t.Run("backoff then back to the interval", func(t *testing.T) {
		t.Parallel()
		api := newFakeAPI(t)
		store := &savingStore{Store: checkpoint.NewStore(pool)}
		api.intercept = failFirst("probe", 4, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		})
		src, clk, _ := newTestSource(t, api, store, "polite-backoff", nil)
		collect(t, src, false)
		pipelinetest.WaitFor(t, 10*time.Second, "polls", func() bool { return api.count("probe") >= 7 })
		w := clk.recorded()[1:]
		bounds := [][2]time.Duration{{60, 66}, {120, 132}, {240, 264}, {480, 528}, {60, 66}}
		for i, b := range bounds {
			if w[i] < b[0]*time.Second || w[i] > b[1]*time.Second {
				t.Fatalf("wait %d after %d failures = %s, want within [%ds, %ds]; all %v", i, min(i+1, 4), w[i], b[0], b[1], w)
			}
		}
	})
}

// TestStartsAtServerClock: without StartFrom the source starts the overlap
// before the server's time (its Date header), not the client's, so a server
// 5 minutes behind or ahead neither replays more than the overlap nor skips
// anything.
func TestStartsAtServerClock(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			api.skew = skew
			history := []string{api.addLate(8 * time.Minute), api.addLate(6 * time.Minute)}
			recent := []string{api.addLate(3 * time.Second), api.addLate(2 * time.Second)}
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			src, _, _ := newTestSource(t, api, store, "start-"+fmt.Sprint(skew), nil)
			c := collect(t, src, false)
			store.checkNoLoss(t, api, c)
			started(t, store)
			start := store.saved()[0].Start
			if d := start.Sub(api.now().Add(-5 * time.Minute)); d < -2*time.Second || d > time.Second {
				t.Fatalf("start %s is not the server's clock %s minus the overlap", start, api.now())
			}
			want := append(recent, api.add(5)...)
			pipelinetest.WaitFor(t, 10*time.Second, "events after the start", func() bool { return c.has(want) })
			got := c.distinct()
			for _, id := range history {
				if got[id] != 0 {
					t.Errorf("event %s from before the start was handed on", id)
				}
			}
		})
	}
}

// TestStopAndStartAgain: the end of ctx stops the source (stopped(nil));
// a later Start on the same source (leadership come back) resumes from the
// checkpoint; a second Start while one runs is refused.
func TestStopAndStartAgain(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	api := newFakeAPI(t)
	store := &savingStore{Store: checkpoint.NewStore(pool)}
	src, _, _ := newTestSource(t, api, store, "close", nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tributarytest.Start(ctx, src); err == nil {
		t.Fatal("a second concurrent Start was accepted")
	}
	started(t, store)
	cancel()
	drain(t, ch)

	ch, err = subscribe(context.Background(), src)
	if err != nil {
		t.Fatalf("Start after the first run ended: %v", err)
	}
	want := api.add(3)
	var got []string
	for len(got) < len(want) {
		m := <-ch
		got = append(got, tributary.EventID(m))
		m.Ack()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if err := stop(src); err != nil {
		t.Fatal(err)
	}
	drain(t, ch)
}

func drain(t *testing.T, ch <-chan *message.Message) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}

// TestCheckpointSaveFailure: when the checkpoint cannot be saved after the
// acks, the poll counts as failed, the state is saved again before the next
// poll, and nothing is lost or skipped.
func TestCheckpointSaveFailure(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	api := newFakeAPI(t)
	store := &savingStore{Store: checkpoint.NewStore(pool)}
	src, _, log := newTestSource(t, api, store, "ckpt-fail", nil)
	c := collect(t, src, false)
	started(t, store)
	var mu sync.Mutex
	fails := 0
	store.setFailOn(func(st State) error {
		mu.Lock()
		defer mu.Unlock()
		if !st.Cursor.IsZero() && fails < 2 {
			fails++
			return fmt.Errorf("database unavailable")
		}
		return nil
	})
	want := api.add(5)
	pipelinetest.WaitFor(t, 10*time.Second, "events", func() bool { return c.has(want) })
	newest := findEvent(api, want[len(want)-1]).CreatedAt.UTC()
	pipelinetest.WaitFor(t, 10*time.Second, "the checkpoint to be saved after the failures", func() bool {
		s := store.saved()
		return s[len(s)-1].Cursor.Equal(newest)
	})
	if n := len(log.Lines("ERROR")); n != 2 || !strings.Contains(log.Lines("ERROR")[0], "kind:checkpoint") {
		t.Fatalf("want 2 checkpoint errors logged, got %q", log.Lines("ERROR"))
	}
}
