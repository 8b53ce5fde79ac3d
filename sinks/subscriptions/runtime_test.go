package subscriptions_test

import (
	"context"
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
