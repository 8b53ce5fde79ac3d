package webhook_test

import (
	"context"
	"net/http"
	"slices"
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

// TestReceiverDownForAnHour: a receiver down for a compressed hour (the
// Standard Webhooks schedule compressed 2000×: one hour → 1.8 s) gets every
// event afterwards, exactly once, each attempt spaced as the schedule says —
// through the real router and Postgres.
func TestReceiverDownForAnHour(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	const factor = 1.0 / 2000
	hour := time.Duration(float64(time.Hour) * factor)
	sched := scaled(middleware.StandardSchedule(), factor)

	var upAt atomic.Int64 // unix nanos; 0 until the first request
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		now := time.Now().UnixNano()
		upAt.CompareAndSwap(0, now+int64(hour))
		if now < upAt.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	pool := pgtest.NewPool(t)
	dlog := webhook.NewPostgresLog(pool)
	p := newSink(t, webhook.Config{URL: rc.URL, Log: dlog,
		Breaker: webhook.BreakerConfig{Failures: 3, Cooldown: 50 * time.Millisecond}})
	// Only the schedule, so its rhythm is what we see.
	sink := router.Sink{Name: "crm", Publisher: p, Retry: &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: sched}}
	ids := pipelinetest.EventIDs("door", 10)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(ids...)}},
		Sinks:   []router.Sink{sink},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)

	delivered := func() map[string]int {
		got := map[string]int{}
		for _, a := range mustQuery(t, dlog, webhook.Filter{Sink: "crm", Outcome: webhook.OutcomeSuccess, Limit: 1000}) {
			got[a.EventID]++
		}
		return got
	}
	pipelinetest.WaitFor(t, 60*time.Second, "every event delivered after the outage", func() bool { return len(delivered()) == len(ids) })
	time.Sleep(300 * time.Millisecond) // nothing further may arrive
	for id, n := range delivered() {
		if n != 1 {
			t.Fatalf("event %s delivered %d times", id, n)
		}
	}
	all := mustQuery(t, dlog, webhook.Filter{Pipeline: "doors", Sink: "crm", Limit: 1000})
	up := time.Unix(0, upAt.Load())
	for _, id := range ids {
		var times []time.Time
		for _, a := range slices.Backward(all) { // oldest first
			if a.EventID == id {
				times = append(times, a.Time)
				if testing.Verbose() {
					t.Logf("%s %s %s %d", id, a.Time.Format("15:04:05.000"), a.Outcome, a.Attempt)
				}
				// Time is when the attempt started; the receiver decides on arrival.
				success := a.Outcome == webhook.OutcomeSuccess
				if success && a.Time.Before(up.Add(-20*time.Millisecond)) || !success && a.Time.After(up) {
					t.Fatalf("%s: attempt at %s (receiver up at %s) was %s", id, a.Time.Format("15:04:05.000"), up.Format("15:04:05.000"), a.Outcome)
				}
				if a.Endpoint != rc.URL || a.Pipeline != "doors" {
					t.Fatalf("log row %+v", a)
				}
			}
		}
		// Down for an hour under the standard schedule: attempts at 0, 5 s,
		// 5 min 5 s, 35 min 5 s (all failed) and 2 h 35 min 5 s (delivered).
		// A very slow machine may push the fourth past the hour.
		if len(times) != 5 && len(times) != 4 {
			t.Fatalf("%s: %d attempts, want 5", id, len(times))
		}
		for i := 1; i < len(times); i++ {
			want, _ := sched.Delay(i)
			gap := times[i].Sub(times[i-1])
			if testing.Verbose() {
				t.Logf("%s attempt %d gap %v want %v", id, i+1, gap, want)
			}
			if gap < want-5*time.Millisecond || gap > want+time.Second {
				t.Fatalf("%s: attempt %d came %v after the one before, schedule says %v", id, i+1, gap, want)
			}
		}
	}
}

// TestExhaustedScheduleIsPoisonedAndReplayable: a receiver that always fails
// sees each event 1 + len(schedule) times, then the event is poisoned with
// the last error; a 400 is poisoned at once; replay delivers once it is back.
func TestExhaustedScheduleIsPoisonedAndReplayable(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	var healthy atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		rec := r.Header.Get("webhook-id")
		switch {
		case strings.HasPrefix(rec, "bad"):
			w.WriteHeader(http.StatusBadRequest)
		case healthy.Load():
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	pool := pgtest.NewPool(t)
	dlog := webhook.NewPostgresLog(pool)
	sched := middleware.List(20*time.Millisecond, 40*time.Millisecond)
	p := newSink(t, webhook.Config{URL: rc.URL, Log: dlog, Breaker: webhook.BreakerConfig{Disabled: true}})
	sink := router.Sink{Name: "crm", Publisher: p, Retry: &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: sched}}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("ev-1", "ev-2", "bad-1")}},
		Sinks:   []router.Sink{sink},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	q := router.NewPoisonQueue(pool)
	ctx := context.Background()
	pipelinetest.WaitFor(t, 30*time.Second, "three poisoned events", func() bool {
		n, _ := q.Count(ctx, router.PoisonFilter{Pipeline: "doors", Sink: "crm"})
		return n == 3
	})
	recs, err := q.List(ctx, router.PoisonFilter{Pipeline: "doors"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		wantAttempts, wantReason := 3, "status 502"
		if rec.EventID == "bad-1" {
			wantAttempts, wantReason = 1, "status 400"
		}
		if rec.Attempts != wantAttempts || !strings.Contains(rec.Reason, wantReason) {
			t.Fatalf("%s poisoned after %d attempts for %q; want %d and %q", rec.EventID, rec.Attempts, rec.Reason, wantAttempts, wantReason)
		}
		if got := len(mustQuery(t, dlog, webhook.Filter{EventID: rec.EventID})); got != wantAttempts {
			t.Fatalf("%s: %d logged attempts, want %d", rec.EventID, got, wantAttempts)
		}
	}
	healthy.Store(true)
	for _, rec := range recs {
		if rec.EventID != "bad-1" {
			if err := q.Replay(ctx, rec.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	pipelinetest.WaitFor(t, 30*time.Second, "replayed events delivered", func() bool {
		return len(mustQuery(t, dlog, webhook.Filter{Outcome: webhook.OutcomeSuccess})) == 2
	})
}

func TestPostgresDeliveryLog(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	dlog := webhook.NewPostgresLog(pool)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-id") == "fail" {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("\x00\xff" + strings.Repeat("x", 5000))) // TEXT takes neither NUL nor bad UTF-8
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	a := newSink(t, webhook.Config{URL: rc.URL + "/a?apikey=s3cr3t-value", Log: dlog, MaxLoggedBody: 100})
	b := newSink(t, webhook.Config{URL: rc.URL + "/b", Log: dlog})
	for _, id := range []string{"e1", "e2", "fail"} {
		_ = a.Publish("sink-a", event(id, `{}`))
	}
	_ = b.Publish("sink-b", event("e3", `{}`))
	ctx := context.Background()

	got := mustQuery(t, dlog, webhook.Filter{Sink: "sink-a"})
	if len(got) != 3 || got[0].EventID != "fail" {
		t.Fatalf("sink-a: %+v", got)
	}
	f := got[0]
	if f.StatusCode != 500 || f.Outcome != webhook.OutcomeTransient || !strings.HasPrefix(f.ResponseBody, "\uFFFD\uFFFDxxx") ||
		f.Attempt != 1 || f.Latency <= 0 || f.Pipeline != "doors" || !strings.Contains(f.Error, "status 500") ||
		f.Endpoint != rc.URL+"/a?apikey=[redacted]" || time.Since(f.Time) > time.Minute {
		t.Fatalf("failed attempt logged as %+v", f)
	}
	if got := mustQuery(t, dlog, webhook.Filter{Outcome: webhook.OutcomeSuccess}); len(got) != 3 {
		t.Fatalf("%d successes, want 3", len(got))
	}
	if got := mustQuery(t, dlog, webhook.Filter{Pipeline: "doors", Limit: 2}); len(got) != 2 {
		t.Fatalf("limit: %d rows", len(got))
	}
	if got := mustQuery(t, dlog, webhook.Filter{Pipeline: "other"}); len(got) != 0 {
		t.Fatalf("other pipeline: %d rows", len(got))
	}
	// Prune by age: make two rows old.
	if _, err := pool.Exec(ctx, `UPDATE tributary_delivery_attempts SET attempted_at = now() - interval '40 days' WHERE event_id IN ('e1', 'e3')`); err != nil {
		t.Fatal(err)
	}
	n, err := dlog.Prune(ctx, 30*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	if got := mustQuery(t, dlog, webhook.Filter{}); len(got) != 2 {
		t.Fatalf("%d rows after prune, want 2", len(got))
	}
}

func mustQuery(t testing.TB, l *webhook.PostgresLog, f webhook.Filter) []webhook.Attempt {
	t.Helper()
	got, err := l.Query(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRetryAfterWinsOverSchedule: a 429 with Retry-After: 1 is retried after
// about a second although the schedule says an hour.
func TestRetryAfterWinsOverSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	pool := pgtest.NewPool(t)
	sched := middleware.List(time.Hour)
	p := newSink(t, webhook.Config{URL: rc.URL})
	sink := router.Sink{Name: "crm", Publisher: p, Retry: &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: sched}}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name: "doors", Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("ev-1")}}, Sinks: []router.Sink{sink},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 20*time.Second, "the retry", func() bool { return rc.Count() == 2 })
	reqs := rc.Requests()
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 990*time.Millisecond {
		t.Fatalf("retried after %v, Retry-After said 1s", gap)
	}
}
