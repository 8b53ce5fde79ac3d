package subscriptions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestAddEndpointWhileEventsFlow adds an endpoint while events are fanned
// out: it receives none from before it was stored, every one from after the
// sink saw it, and the endpoint already there receives everything.
func TestAddEndpointWhileEventsFlow(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "flow")
	a, b := newReceiver(t, "tok-a"), newReceiver(t, "tok-b")
	epA := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "flow", URL: a.URL, Types: []string{"comment.*"}, Token: "tok-a"})
	waitIndexed(t, sink, epA.ID, true)

	var seq atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			n := seq.Add(1)
			if err := sink.Publish("hooks", event(fmt.Sprintf("e%05d", n), "comment.created", nil)); err != nil {
				done <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	pipelinetest.WaitFor(t, 30*time.Second, "events to flow", func() bool { return a.distinct() >= 20 })
	beforeCreate := seq.Load() // every event up to here was fanned out before B existed
	epB := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "flow", URL: b.URL, Types: []string{"comment.created"}, Token: "tok-b"})
	waitIndexed(t, sink, epB.ID, true)
	afterIndexed := seq.Load() + 1 // every event from the next one on is fanned out to B
	pipelinetest.WaitFor(t, 30*time.Second, "events after the add", func() bool { return seq.Load() > afterIndexed+50 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last := seq.Load()
	pipelinetest.WaitFor(t, 60*time.Second, "A to receive every event", func() bool { return a.distinct() == int(last) })
	pipelinetest.WaitFor(t, 60*time.Second, "B to receive the events after its add", func() bool {
		return b.count(fmt.Sprintf("e%05d", last)) > 0
	})
	for id := range b.ids() {
		var n int64
		fmt.Sscanf(id, "e%05d", &n)
		if n <= beforeCreate {
			t.Errorf("B received %s, fanned out before B was stored (up to e%05d)", id, beforeCreate)
		}
	}
	for n := afterIndexed; n <= last; n++ {
		if b.count(fmt.Sprintf("e%05d", n)) == 0 {
			t.Errorf("B missed e%05d, fanned out after the sink saw B (from e%05d)", n, afterIndexed)
		}
	}
	t.Logf("A got %d; B got %d (stored after e%05d, seen from e%05d, last e%05d)", a.distinct(), b.distinct(), beforeCreate, afterIndexed, last)
}

// TestDisabledEndpointCostsOthersNothing disables one of three endpoints:
// the others receive everything meanwhile, the disabled one nothing; once
// enabled again, a replay from the time it was disabled sends what it missed.
func TestDisabledEndpointCostsOthersNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "disable")
	var recv []*receiver
	var eps []subscriptions.Endpoint
	for i := range 3 {
		rc := newReceiver(t, fmt.Sprintf("tok-%d", i))
		recv = append(recv, rc)
		eps = append(eps, addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "disable", URL: rc.URL,
			Types: []string{"comment.created"}, Token: rc.token}))
	}
	for _, ep := range eps {
		waitIndexed(t, sink, ep.ID, true)
	}
	// Held before the events arrive: the fan-out still queues for it.
	ctx := context.Background()
	disabledAt := time.Now().Add(-time.Second)
	if _, err := store.SetEnabled(ctx, eps[1].ID, false, "partner maintenance", "test"); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the sink to see the disable", func() bool {
		ids, _ := sink.Endpoints()
		return len(ids) == 2
	})
	const n = 30
	for i := range n {
		publish(t, sink, event(fmt.Sprintf("d%02d", i), "comment.created", nil))
	}
	pipelinetest.WaitFor(t, 60*time.Second, "the enabled endpoints to receive every event", func() bool {
		return recv[0].distinct() == n && recv[2].distinct() == n
	})
	if got := recv[1].distinct(); got != 0 {
		t.Fatalf("the disabled endpoint received %d events", got)
	}
	got, err := store.Get(ctx, eps[1].ID)
	if err != nil || got.Enabled || got.DisabledReason != "partner maintenance" {
		t.Fatalf("stored endpoint: %+v, %v", got, err)
	}
	if _, err := store.SetEnabled(ctx, eps[1].ID, true, "", "test"); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, sink, eps[1].ID, true)
	if n, err := store.Replay(ctx, eps[1].ID, disabledAt); err != nil || n != 30 {
		t.Fatalf("replay queued %d, %v; want 30", n, err)
	}
	pipelinetest.WaitFor(t, 60*time.Second, "the re-enabled endpoint to receive what waited", func() bool { return recv[1].distinct() == n })
}

// TestTenantNeverGetsAnotherTenantsEvents: an endpoint owned by a tenant gets
// that tenant's events only; an endpoint without one gets all of them.
func TestTenantNeverGetsAnotherTenantsEvents(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	sink := newSink(t, pool, "tenants", func(c *subscriptions.Config) { c.TenantKey = "tenantId" })
	acme, globex, all := newReceiver(t, "a"), newReceiver(t, "g"), newReceiver(t, "all")
	for _, e := range []subscriptions.Endpoint{
		{URL: acme.URL, Tenant: "acme", Token: "a"},
		{URL: globex.URL, Tenant: "globex", Token: "g"},
		{URL: all.URL, Token: "all"},
	} {
		e.Pipeline, e.Types = "tenants", []string{"comment.*"}
		waitIndexed(t, sink, addEndpoint(t, store, e).ID, true)
	}
	tenants := []any{"acme", "globex", 42, nil}
	const n = 40
	for i := range n {
		f := map[string]any{}
		if tn := tenants[i%len(tenants)]; tn != nil {
			f["tenantId"] = tn
		}
		publish(t, sink, event(fmt.Sprintf("t%02d", i), "comment.created", f))
	}
	pipelinetest.WaitFor(t, 60*time.Second, "every event at the tenant-less endpoint", func() bool { return all.distinct() == n })
	pipelinetest.WaitFor(t, 30*time.Second, "the tenants' events", func() bool {
		return acme.distinct() == n/len(tenants) && globex.distinct() == n/len(tenants)
	})
	for _, c := range []struct {
		rc     *receiver
		tenant string
	}{{acme, `"tenantId":"acme"`}, {globex, `"tenantId":"globex"`}} {
		c.rc.mu.Lock()
		for _, b := range c.rc.bodies {
			if !strings.Contains(b, c.tenant) {
				t.Errorf("endpoint of %s received another tenant's event: %s", c.tenant, b)
			}
		}
		c.rc.mu.Unlock()
	}
}

// TestTestPayloadPerType sends each type's test payload: create and update a
// dummy object, delete a body with only an id; a receiver that checks its
// key is verified (right key 2xx, wrong key 401), one that does not is not.
func TestTestPayloadPerType(t *testing.T) {
	t.Parallel()
	checks, lax := newReceiver(t, "right"), newReceiver(t, "")
	ep := subscriptions.Endpoint{ID: "ep_test", Pipeline: "p", Sink: "hooks", URL: checks.URL, Method: "POST",
		Types: []string{"comment.*"}, Token: "right", TokenHeader: "token", Enabled: true}
	opts := subscriptions.TestOptions{AllowPrivateNetworks: true, Timeout: 5 * time.Second}
	res, err := subscriptions.Test(context.Background(), ep, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, r := range res {
		kinds[r.Type] = r.Kind
		if !r.Verified || r.RightKey.Status/100 != 2 || r.WrongKey.Status != 401 {
			t.Errorf("%s: %+v, want verified (2xx, 401)", r.Type, r)
		}
		switch r.Kind {
		case "delete":
			if r.Body != fmt.Sprintf(`{"id":%q}`, strings.TrimSuffix(strings.TrimPrefix(r.Body, `{"id":"`), `"}`)) {
				t.Errorf("delete body %s: want only an id", r.Body)
			}
		default:
			if !strings.Contains(r.Body, `"type":"`+r.Type+`"`) || !strings.Contains(r.Body, `"data"`) {
				t.Errorf("%s body %s: want a dummy object of that type", r.Kind, r.Body)
			}
		}
	}
	want := map[string]string{"comment.created": "create", "comment.updated": "update", "comment.deleted": "delete"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("types tested %v, want %v", kinds, want)
	}
	ep.URL = lax.URL
	res, err = subscriptions.Test(context.Background(), ep, []string{"comment.deleted"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Verified || !strings.Contains(res[0].Reason, "wrong credentials was accepted") {
		t.Fatalf("lax receiver: %+v, want not verified (wrong key accepted)", res)
	}
}

// TestGoneDisablesTheEndpointRow: a 410 disables the endpoint's row for every
// instance, with the reason, and the event is held, not dropped.
func TestGoneDisablesTheEndpointRow(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	log := webhook.NewPostgresLog(pool)
	sink := newSink(t, pool, "gone", func(c *subscriptions.Config) { c.Log = log })
	gone := httptest.NewServer(goneHandler{})
	defer gone.Close()
	ep := addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "gone", URL: gone.URL, Types: []string{"a"}, Token: "x"})
	waitIndexed(t, sink, ep.ID, true)
	publish(t, sink, event("g1", "a", nil))
	ctx := context.Background()
	pipelinetest.WaitFor(t, 30*time.Second, "the 410 to disable the endpoint", func() bool {
		e, err := store.Get(ctx, ep.ID)
		return err == nil && !e.Enabled
	})
	e, _ := store.Get(ctx, ep.ID)
	if !strings.Contains(e.DisabledReason, "410 Gone") {
		t.Fatalf("reason %q, want the 410", e.DisabledReason)
	}
	counts, err := store.Counts(ctx, ep.ID)
	if err != nil || counts[subscriptions.StatePending] != 1 {
		t.Fatalf("queue %v %v: want the event held (pending)", counts, err)
	}
	// The attempt is in the delivery log under the endpoint's own name.
	attempts, err := log.Query(ctx, webhook.Filter{Sink: subscriptions.LogSink("hooks", ep.ID)})
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != webhook.OutcomeGone || attempts[0].EventID != "g1" {
		t.Fatalf("delivery log of %s: %+v, %v; want the one 410 attempt", ep.ID, attempts, err)
	}
}

// TestEndpointValidationNamesFields: every problem, each under its JSON field.
func TestEndpointValidationNamesFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		ep   subscriptions.Endpoint
		keys []string
	}{
		{"empty", subscriptions.Endpoint{}, []string{"pipeline", "sink", "types", "url"}},
		{"bad", subscriptions.Endpoint{Pipeline: "p", Sink: "s", URL: "ftp://x", Method: "GET", Types: []string{"a", " b"},
			Secrets: []subscriptions.Secret{{Secret: "whsec_!!"}}, Headers: map[string]string{"Authorization": "x"}, RateLimit: -1},
			[]string{"url", "method", "types[1]", "secrets[0]", "headers", "rate_limit"}},
		{"put without id", subscriptions.Endpoint{Pipeline: "p", Sink: "s", URL: "https://x.example/h", Method: "PUT", Types: []string{"a"}},
			[]string{"url"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.ep.Validate()
			if !errors.Is(err, subscriptions.ErrInvalid) {
				t.Fatalf("%v: want ErrInvalid", err)
			}
			opts, _ := tributary.OptionErrors(err)
			got := map[string]bool{}
			for _, o := range opts {
				got[o.Key] = true
			}
			for _, k := range c.keys {
				if !got[k] {
					t.Errorf("no error for %q in %v", k, err)
				}
			}
		})
	}
}

// TestRedactedShowsNoCredential: what the CLI, the API and the console show.
func TestRedactedShowsNoCredential(t *testing.T) {
	t.Parallel()
	ep := subscriptions.Endpoint{URL: "https://user:pw-s3cret@x.example/h?key=q-s3cret", Token: "tok-s3cret", BasicUsername: "u",
		BasicPassword: "basic-s3cret", Secrets: []subscriptions.Secret{{Secret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5LXMzY3JldA=="}},
		Headers: map[string]string{"X-Api-Key": "hdr-s3cret", "X-Customer": "42"}}
	shown := fmt.Sprintf("%+v", ep.Redacted())
	for _, secret := range []string{"pw-s3cret", "q-s3cret", "tok-s3cret", "basic-s3cret", "c2VjcmV0LXNpZ25pbmcta2V5LXMzY3JldA", "hdr-s3cret"} {
		if strings.Contains(shown, secret) {
			t.Errorf("redacted endpoint shows %q: %s", secret, shown)
		}
	}
	if !strings.Contains(shown, "X-Customer:42") || !strings.Contains(shown, "whsec_…dA==") {
		t.Errorf("redacted too much: %s", shown)
	}
}
