package subscriptions_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// TestChangesReachEveryInstance: two instances' sinks on one database both
// apply an endpoint added, changed and removed through the store (the
// notification), and a change that sends no notification is still applied
// by the poll.
func TestChangesReachEveryInstance(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	slow := func(c *subscriptions.Config) { c.Refresh = time.Hour } // only notifications
	a, b := newSink(t, pool, "multi", slow), newSink(t, pool, "multi", slow)
	ep := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "multi", URL: "https://x.example/h", Types: []string{"a"}})
	waitIndexed(t, a, ep.ID, true)
	waitIndexed(t, b, ep.ID, true)
	if _, err := store.SetEnabled(context.Background(), ep.ID, false, "off", "test"); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, a, ep.ID, false)
	waitIndexed(t, b, ep.ID, false)

	// No notification: a row written behind the store's back, its version bumped.
	polled := newSink(t, pool, "multi", func(c *subscriptions.Config) { c.Refresh = 200 * time.Millisecond })
	_, err := pool.Exec(context.Background(), `UPDATE tributary_subscription_endpoints SET enabled = true WHERE id = $1`, ep.ID)
	if err == nil {
		_, err = pool.Exec(context.Background(), `UPDATE tributary_subscription_versions SET version = version + 1 WHERE pipeline = 'multi'`)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, polled, ep.ID, true)

	if err := store.Delete(context.Background(), ep.ID); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, a, ep.ID, false)
	waitIndexed(t, b, ep.ID, false)
}

// TestPoisonedDeliveryReplays: a permanent refusal poisons the delivery (it
// is not retried); once the receiver is fixed, a replay delivers it.
func TestPoisonedDeliveryReplays(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if refuse.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "poison")
	ep := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "poison", URL: srv.URL, Types: []string{"a"}})
	waitIndexed(t, sink, ep.ID, true)
	publish(t, sink, event("p1", "a", nil))
	ctx := context.Background()
	pipelinetest.WaitFor(t, 30*time.Second, "the delivery to be poisoned", func() bool {
		c, err := store.Counts(ctx, ep.ID)
		return err == nil && c[subscriptions.StatePoisoned] == 1
	})
	q, err := store.Queue(ctx, ep.ID, subscriptions.QueueFilter{State: subscriptions.StatePoisoned})
	if err != nil || len(q) != 1 || q[0].Attempts != 1 || q[0].LastError == "" {
		t.Fatalf("poisoned: %+v, %v; want one attempt with its error", q, err)
	}
	refuse.Store(false)
	if n, err := store.Replay(ctx, ep.ID, time.Time{}); err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the replayed delivery", func() bool { return got.Load() == 1 })
}

// TestRateLimitPerEndpoint: an endpoint's rate limit spaces its own
// deliveries (the burst of one, then one per 1/rate) without holding back
// another endpoint of the same sink, and nothing is sent twice.
func TestRateLimitPerEndpoint(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "rate")
	limited, free := newReceiver(t, "l"), newReceiver(t, "f")
	epL := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "rate", URL: limited.URL, Types: []string{"a"}, Token: "l", RateLimit: 5})
	epF := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "rate", URL: free.URL, Types: []string{"a"}, Token: "f"})
	waitIndexed(t, sink, epL.ID, true)
	waitIndexed(t, sink, epF.ID, true)
	const n = 11
	start := time.Now()
	for i := range n {
		publish(t, sink, event("r"+string(rune('a'+i)), "a", nil))
	}
	pipelinetest.WaitFor(t, 60*time.Second, "the unlimited endpoint", func() bool { return free.distinct() == n })
	freeDone := time.Since(start)
	pipelinetest.WaitFor(t, 60*time.Second, "the limited endpoint", func() bool { return limited.distinct() == n })
	if took := time.Since(start); took < (n-1)*200*time.Millisecond {
		t.Fatalf("%d deliveries at 5/s took %s, want at least %s", n, took, (n-1)*200*time.Millisecond)
	}
	for id, c := range limited.ids() {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
	t.Logf("unlimited endpoint done after %s, limited after %s", freeDone, time.Since(start))
}

// TestHungEndpointCostsOthersNothing: while one endpoint's receiver holds
// every request, a healthy endpoint of the same sink receives every event,
// and the hung one has no more than max_in_flight requests open.
func TestHungEndpointCostsOthersNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	healthy := newReceiver(t, "ok")
	hold := make(chan struct{})
	var open, most atomic.Int32
	var accepted atomic.Int32
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-hold:
			accepted.Add(1)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	sink := newSink(t, pool, "hung", func(c *subscriptions.Config) { c.Timeout, c.MaxInFlight = 3*time.Second, 2 })
	t.Cleanup(func() { close(hold) }) // before the sink's Close: nothing left to wait for
	for _, e := range []subscriptions.Endpoint{{URL: hung.URL, Token: "h"}, {URL: healthy.URL, Token: "ok"}} {
		e.Pipeline, e.Types = "hung", []string{"a"}
		waitIndexed(t, sink, addEndpoint(t, store, e).ID, true)
	}
	const n = 50
	for i := range n {
		publish(t, sink, event(fmt.Sprintf("x%02d", i), "a", nil))
	}
	pipelinetest.WaitFor(t, 60*time.Second, "the healthy endpoint to receive every event", func() bool { return healthy.distinct() == n })
	if got := most.Load(); got < 1 || got > 2 {
		t.Fatalf("the hung receiver had %d requests open at most, want 1 to max_in_flight (2)", got)
	}
	if got := accepted.Load(); got != 0 {
		t.Fatalf("the hung receiver answered %d requests", got)
	}
}
