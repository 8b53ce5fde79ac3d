package etagpoll

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// pipeline builds a router with one pipeline: src → Postgres topic → sink.
func pipeline(t testing.TB, pool *pgxpool.Pool, name string, src *Source, sink *pipelinetest.Sink) *router.Router {
	t.Helper()
	r, err := router.New(router.Config{Backend: router.Postgres(pool), CloseTimeout: 5 * time.Second},
		router.Pipeline{
			Name:    name,
			Sources: []router.Source{{Name: src.named.Name(), Source: src}},
			Sinks:   []router.Sink{{Name: "hook", Publisher: sink}},
		})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func storedIDs(t testing.TB, pool *pgxpool.Pool, pipeline string) map[string]int {
	t.Helper()
	ids, err := topicIDs(pool, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestEndToEndClockSkew runs the real router on Postgres with the server's
// clock 5 minutes behind, equal to and ahead of the client's, and inserts
// events — some of them late, some while a fetch is in flight — over several
// polls. Every event after the start must reach the sink exactly once.
func TestEndToEndClockSkew(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: Postgres and the router")
	}
	t.Parallel()
	for _, skew := range []time.Duration{-5 * time.Minute, 0, 5 * time.Minute} {
		t.Run(fmt.Sprintf("server clock %+v", skew), func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			api := newFakeAPI(t)
			api.skew, api.maxPage = skew, 5
			// The source starts 10 minutes back in the server's clock, so
			// that late events (created minutes before they are visible)
			// fall after the start.
			history := []string{api.addLate(20 * time.Minute), api.addLate(11 * time.Minute)}
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			src, _, log := newTestSource(t, api, store, "skew", func(c *Config) { c.StartFrom = api.now().Add(-10 * time.Minute) })
			sink := pipelinetest.NewSink(nil)
			pipelinetest.RunRouter(t, pipeline(t, pool, "doors", src, sink))
			started(t, store)

			var want []string
			var mu sync.Mutex
			inflight := 0
			for round := range 4 {
				batch := api.add(4)
				if round == 2 {
					// While this round's fetch is between pages, more events
					// arrive: new ones (shifting the newest-first pages) and a
					// late one created a minute ago.
					api.mu.Lock()
					api.onPage = func(page int) {
						mu.Lock()
						defer mu.Unlock()
						if page == 1 && inflight == 0 {
							inflight++
							more := api.add(3)
							more = append(more, api.addLate(time.Minute))
							want = append(want, more...)
						}
					}
					api.mu.Unlock()
				}
				if round == 3 {
					batch = append(batch, api.addLate(3*time.Minute)) // late, within the overlap
				}
				mu.Lock()
				want = append(want, batch...)
				w := append([]string(nil), want...)
				mu.Unlock()
				pipelinetest.WaitFor(t, 20*time.Second, fmt.Sprintf("round %d at the sink", round), func() bool {
					return len(missing(sink.Counts(), w)) == 0
				})
			}
			if inflight == 0 {
				t.Fatal("no events were inserted during a fetch")
			}
			got := sink.Counts()
			for _, id := range want {
				if got[id] != 1 {
					t.Errorf("event %s delivered %d times, want 1", id, got[id])
				}
			}
			for _, id := range history {
				if got[id] != 0 {
					t.Errorf("event %s from before the start was delivered", id)
				}
			}
			if len(got) != len(want) {
				t.Errorf("sink got %d events, want %d", len(got), len(want))
			}
			stored := storedIDs(t, pool, "doors")
			if len(stored) != len(want) {
				t.Errorf("topic holds %d events, want %d", len(stored), len(want))
			}
			for id, n := range stored {
				if n != 1 {
					t.Errorf("topic holds %s %d times: dedup did not drop a re-read", id, n)
				}
			}
			// The overlap re-read events: the source skipped those it had
			// seen acked, and dedup dropped any it handed on again.
			acked, skipped := counterValue(src.m.counter(&src.m.acked, src.m.v.acked)), counterValue(src.m.counter(&src.m.skipped, src.m.v.skipped))
			if skipped == 0 {
				t.Errorf("no overlap re-reads skipped (acked %v for %d events)", acked, len(want))
			}
			// The log's "handed on" counts are what was handed on: re-reads
			// it skipped are counted apart. A poll logs once its window's
			// last ack is in, which may come after the sink has the event:
			// wait for the line rather than read the log early.
			var handed, reread int
			logged := func() bool {
				handed, reread = 0, 0
				for _, line := range log.Lines("INFO") {
					if strings.Contains(line, "Events handed on and acked") {
						handed += logField(t, line, "count")
						reread += logField(t, line, "reread")
					}
				}
				acked = counterValue(src.m.counter(&src.m.acked, src.m.v.acked))
				return float64(handed) == acked
			}
			for deadline := time.Now().Add(10 * time.Second); !logged() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if float64(handed) != acked {
				t.Errorf("the log says %d handed on and %d re-read; the source acked %v and skipped %v", handed, reread, acked, skipped)
			}
			// The cursor is in the server's clock: the newest createdAt. The
			// save follows the window's last ack, which may come after the
			// sink has the event: wait for it rather than read a save early.
			var newest time.Time
			for _, e := range api.all() {
				if e.CreatedAt.After(newest) {
					newest = e.CreatedAt
				}
			}
			last := func() State { saves := store.saved(); return saves[len(saves)-1] }
			deadline := time.Now().Add(10 * time.Second)
			for !last().Cursor.Equal(newest.UTC()) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if c := last().Cursor; !c.Equal(newest.UTC()) {
				t.Errorf("cursor %s, want the newest createdAt %s (server clock)", c, newest.UTC())
			}
		})
	}
}

// TestEndToEndRestartFromCheckpoint stops the router, lets events arrive
// while it is down, and starts a new source on the same database: it must
// resume with the stored ETag and cursor, and deliver exactly the new events.
func TestEndToEndRestartFromCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: Postgres and the router")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	api := newFakeAPI(t)
	api.maxPage = 5
	store := &savingStore{Store: checkpoint.NewStore(pool)}
	// Each run tags its requests: a request of the first run still in the
	// server's hands when it stops must not pass for one of the second's.
	src, _, _ := newTestSource(t, api, store, "restart", func(c *Config) {
		c.StartFrom = api.now().Add(-time.Hour)
		c.Headers = map[string]string{"X-Test-Run": "1"}
	})
	sink1 := pipelinetest.NewSink(nil)
	stop := pipelinetest.RunRouter(t, pipeline(t, pool, "doors", src, sink1))
	started(t, store)
	first := api.add(12)
	pipelinetest.WaitFor(t, 20*time.Second, "the first batch", func() bool { return len(missing(sink1.Counts(), first)) == 0 })
	n := len(api.requests())
	pipelinetest.WaitFor(t, 10*time.Second, "an idle poll", func() bool {
		reqs := api.requests()
		return len(reqs) > n+1 && reqs[len(reqs)-1].status == 304
	})
	// Delivery to a sink is at least once: one the sink has seen but whose
	// ack the stop cuts off comes again after the restart. Wait for the acks,
	// so that any first-run event at the second sink can only be one the
	// restarted source got stored again.
	pipelinetest.WaitFor(t, 10*time.Second, "the first run's deliveries acked", func() bool {
		return pipelinetest.Delivered(t, pool, "doors", "hook")
	})
	stop()

	var saved State
	if ok, err := checkpoint.NewStore(pool).Load(context.Background(), "etagpoll/restart", &saved); err != nil || !ok {
		t.Fatalf("no checkpoint after the first run: %v", err)
	}
	second := api.add(13) // while nobody polls

	store2 := &savingStore{Store: checkpoint.NewStore(pool)}
	src2, _, log2 := newTestSource(t, api, store2, "restart", func(c *Config) { c.Headers = map[string]string{"X-Test-Run": "2"} })
	sink2 := pipelinetest.NewSink(nil)
	pipelinetest.RunRouter(t, pipeline(t, pool, "doors", src2, sink2))
	pipelinetest.WaitFor(t, 20*time.Second, "the second batch after the restart", func() bool {
		return len(missing(sink2.Counts(), second)) == 0
	})
	// The restarted source re-read the first run's events in the overlap
	// and handed them on (its in-memory set starts empty); the router's
	// dedup dropped them. Delivery starts at the ingest commit, so the sink
	// can hold every new event before the source has counted the acks:
	// wait for the count rather than read it early.
	pipelinetest.WaitFor(t, 10*time.Second, "the restarted source's acks", func() bool {
		return int(counterValue(src2.m.counter(&src2.m.acked, src2.m.v.acked))) > len(second)
	})
	if acked := counterValue(src2.m.counter(&src2.m.acked, src2.m.v.acked)); int(acked) <= len(second) {
		t.Errorf("restarted source acked %v messages for %d new events: the overlap re-read nothing", acked, len(second))
	}
	got := sink2.Counts()
	for _, id := range first {
		if got[id] != 0 {
			t.Errorf("event %s of the first run delivered again after the restart", id)
		}
	}
	for _, id := range second {
		if got[id] != 1 {
			t.Errorf("event %s delivered %d times", id, got[id])
		}
	}
	stored := storedIDs(t, pool, "doors")
	for _, id := range append(slices.Clone(first), second...) {
		if stored[id] != 1 {
			t.Errorf("topic holds %s %d times, want once", id, stored[id])
		}
	}
	if len(stored) != len(first)+len(second) {
		t.Errorf("topic holds %d events, want %d", len(stored), len(first)+len(second))
	}
	var reqs []fakeRequest
	for _, r := range api.requests() {
		if r.run == "2" {
			reqs = append(reqs, r)
		}
	}
	if len(reqs) < 2 {
		t.Fatalf("restarted source made %d requests, want a probe and a fetch at least", len(reqs))
	}
	if reqs[0].step != "probe" || len(reqs[0].ifNoneMatch) != 1 || reqs[0].ifNoneMatch[0] != saved.ETag {
		t.Fatalf("first request after restart %+v: want a probe with the stored ETag %q", reqs[0], saved.ETag)
	}
	q, _ := url.ParseQuery(reqs[1].query)
	wantSince := saved.since(5 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if reqs[1].step != "fetch" || q.Get("startDate") != wantSince {
		t.Fatalf("first fetch after restart %+v: want startDate %s (stored cursor minus the overlap, not below the start)", reqs[1], wantSince)
	}
	if log2.Lines("ERROR") != nil {
		t.Errorf("errors after restart: %v", log2.Lines("ERROR"))
	}
}

// logField reads an integer field from a pipelinetest.Logger line.
func logField(t *testing.T, line, name string) int {
	t.Helper()
	m := regexp.MustCompile(`\b` + name + `:(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s in %q", name, line)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
