package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// goneReceiver answers 410 while gone is set, 204 otherwise.
func goneReceiver(t *testing.T) (*receiver, *atomic.Bool) {
	var gone atomic.Bool
	gone.Store(true)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return rc, &gone
}

// TestGoneDisableSurvivesRestart: a 410 disables the endpoint in Postgres; a
// new sink on the same database (a restarted process) stays disabled and
// poisons its messages as "disabled" without sending them; enabling the
// endpoint lets the running sink deliver again, and the poisoned messages
// replay — through the real router.
func TestGoneDisableSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	rc, gone := goneReceiver(t)
	pool := pgtest.NewPool(t)
	states := webhook.NewPostgresEndpoints(pool)
	dlog := webhook.NewPostgresLog(pool)
	ctx := context.Background()
	cfg := webhook.Config{URL: rc.URL + "/hooks?apikey=s3cr3t-key", State: states, StateRefresh: 50 * time.Millisecond, Log: dlog}
	q := router.NewPoisonQueue(pool)
	run := func(sink *webhook.Publisher, ids ...string) (stop func()) {
		s := router.Sink{Name: "crm", Publisher: sink}
		s.Retry = &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: middleware.List(20 * time.Millisecond)}
		r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
			Name:    "doors",
			Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(ids...)}},
			Sinks:   []router.Sink{s},
		})
		if err != nil {
			t.Fatal(err)
		}
		return pipelinetest.RunRouter(t, r)
	}
	poisoned := func(n int64) func() bool {
		return func() bool { c, _ := q.Count(ctx, router.PoisonFilter{Pipeline: "doors", Sink: "crm"}); return c == n }
	}

	// First process: the 410.
	stop := run(newSink(t, cfg), "ev-1")
	pipelinetest.WaitFor(t, 30*time.Second, "ev-1 poisoned by the 410", poisoned(1))
	stop()
	st, err := states.Get(ctx, "doors", "crm")
	if err != nil || st.State != webhook.StateDisabled || !strings.Contains(st.Reason, "410") {
		t.Fatalf("stored state %+v (%v); want disabled by the 410", st, err)
	}
	if strings.Contains(st.Endpoint, "s3cr3t") || st.Endpoint != rc.URL+"/hooks?apikey=[redacted]" {
		t.Fatalf("stored endpoint %q: want the URL with the key redacted", st.Endpoint)
	}

	// Second process, same database: still disabled, nothing sent.
	gone.Store(false)
	sink2 := newSink(t, cfg)
	run(sink2, "ev-2", "ev-3")
	pipelinetest.WaitFor(t, 30*time.Second, "ev-2 and ev-3 poisoned as disabled", poisoned(3))
	if n := rc.Count(); n != 1 {
		t.Fatalf("the receiver got %d requests; a disabled endpoint must get none after the 410", n)
	}
	recs, err := q.List(ctx, router.PoisonFilter{Pipeline: "doors"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if !strings.Contains(rec.Reason, "disabled") || strings.Contains(rec.Reason, "s3cr3t") {
			t.Fatalf("%s poisoned for %q; want the endpoint disabled", rec.EventID, rec.Reason)
		}
	}
	if got := mustQuery(t, dlog, webhook.Filter{EventID: "ev-2"}); len(got) != 1 || got[0].Outcome != webhook.OutcomeDisabled {
		t.Fatalf("ev-2 log: %+v", got)
	}

	// The operator enables it (as `tributary endpoints enable` does) and replays.
	if _, err := states.Enable(ctx, "doors", "crm", "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // > StateRefresh: the running sink re-reads
	for _, rec := range recs {
		if err := q.Replay(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the replayed events delivered", func() bool {
		return len(mustQuery(t, dlog, webhook.Filter{Outcome: webhook.OutcomeSuccess})) == 3
	})
	if sink2.Disabled() {
		t.Fatal("the sink still reports itself disabled")
	}
}

// TestDisableSeenByOtherInstances: two sinks for the same endpoint (two
// instances) share its state: a 410 at one and an operator's enable or
// disable reach the other within StateRefresh, without a restart.
func TestDisableSeenByOtherInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	rc, gone := goneReceiver(t)
	gone.Store(false)
	pool := pgtest.NewPool(t)
	states := webhook.NewPostgresEndpoints(pool)
	ctx := context.Background()
	const refresh = 50 * time.Millisecond
	cfg := webhook.Config{URL: rc.URL, State: states, StateRefresh: refresh}
	a, b := newSink(t, cfg), newSink(t, cfg)
	send := func(p *webhook.Publisher, id string) error { return p.Publish("crm", event(id, `{}`)) }
	if err := send(a, "1"); err != nil {
		t.Fatal(err)
	}
	if err := send(b, "2"); err != nil { // b has read "enabled"
		t.Fatal(err)
	}
	list, err := states.List(ctx, webhook.EndpointFilter{})
	if err != nil || len(list) != 1 || list[0].State != webhook.StateEnabled || list[0].Endpoint != rc.URL {
		t.Fatalf("registered endpoints %+v (%v)", list, err)
	}

	gone.Store(true)
	if err := send(a, "3"); !errors.Is(err, webhook.ErrEndpointDisabled) {
		t.Fatalf("410 at a: %v", err)
	}
	time.Sleep(2 * refresh)
	before := rc.Count()
	if err := send(b, "4"); !errors.Is(err, webhook.ErrEndpointDisabled) || !middleware.IsPermanent(err) {
		t.Fatalf("b after a's 410: %v; want the endpoint disabled", err)
	}
	if rc.Count() != before {
		t.Fatal("b sent to an endpoint a had disabled")
	}

	gone.Store(false)
	if _, err := states.Enable(ctx, "doors", "crm", "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * refresh)
	for _, p := range []*webhook.Publisher{a, b} {
		if err := send(p, "5"); err != nil {
			t.Fatalf("after enable: %v", err)
		}
	}
	if _, err := states.Disable(ctx, "doors", "crm", "receiver migrating", "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * refresh)
	if err := send(b, "6"); !errors.Is(err, webhook.ErrEndpointDisabled) || !strings.Contains(err.Error(), "receiver migrating") {
		t.Fatalf("after an operator's disable: %v", err)
	}
	if _, err := states.Enable(ctx, "doors", "nope", "test"); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Fatalf("enable of an unknown endpoint: %v", err)
	}
}

// TestStateForAnotherURLIsIgnored: a sink pointed at a new URL is not held
// back by a 410 the old URL answered.
func TestStateForAnotherURLIsIgnored(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	old, _ := goneReceiver(t)
	fresh := newReceiver(t, nil)
	pool := pgtest.NewPool(t)
	states := webhook.NewPostgresEndpoints(pool)
	if err := newSink(t, webhook.Config{URL: old.URL, State: states}).Publish("crm", event("1", `{}`)); !errors.Is(err, webhook.ErrEndpointDisabled) {
		t.Fatalf("410: %v", err)
	}
	if err := newSink(t, webhook.Config{URL: fresh.URL, State: states}).Publish("crm", event("2", `{}`)); err != nil {
		t.Fatalf("new URL: %v", err)
	}
	st, err := states.Get(context.Background(), "doors", "crm")
	if err != nil || st.State != webhook.StateDisabled || st.Endpoint != old.URL {
		t.Fatalf("stored %+v (%v): the old URL's disable stays on record", st, err)
	}
}
