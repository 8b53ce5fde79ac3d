package router_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

func fastRetry() *middleware.Retry {
	return &middleware.Retry{MaxRetries: 2, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Multiplier: 2}
}

// TestWaitingRetryDoesNotHoldBackOthers: the first event keeps failing,
// requeued again and again on its schedule, until the 1,000 events behind it
// have all been delivered; only then does its receiver recover. Were the
// failing event holding its topic (a nack loop), the others would never
// arrive and the test would time out.
func TestWaitingRetryDoesNotHoldBackOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits on a retry schedule")
	}
	t.Parallel()
	forEachBackend(t, testWaitingRetryDoesNotHoldBackOthers)
}

func testWaitingRetryDoesNotHoldBackOthers(t *testing.T, bc backendCase) {
	backend, _, _ := bc.new(t)
	ids := append([]string{"slow"}, pipelinetest.EventIDs("fast", 1000)...)
	var recovered atomic.Bool
	var slowAttempts atomic.Int32
	sink := pipelinetest.NewSink(func(m *message.Message) error {
		if tributary.EventID(m) != "slow" || recovered.Load() {
			return nil
		}
		slowAttempts.Store(int32(middleware.Attempts(m) + 1))
		return errors.New("receiver unavailable")
	})
	delays := make([]time.Duration, 60)
	for i := range delays {
		delays[i] = time.Second
	}
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "slow",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(ids...)}},
		Sinks: []router.Sink{{Name: "hook", Publisher: sink, Retry: &router.RetryPolicy{
			InProcess: fastRetry(),
			Schedule:  middleware.List(delays...),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 60*time.Second, "the 1000 events behind the failing one", func() bool { return sink.Distinct() == 1000 })
	if sink.Count("slow") != 0 || slowAttempts.Load() < 1 {
		t.Fatalf("slow delivered %d times after %d attempts; want it still failing", sink.Count("slow"), slowAttempts.Load())
	}
	// Let it keep failing through a few more requeues before it recovers.
	pipelinetest.WaitFor(t, 30*time.Second, "three failed attempts of the slow event", func() bool { return slowAttempts.Load() >= 3 })
	recovered.Store(true)
	pipelinetest.WaitFor(t, 20*time.Second, "the failing event once its receiver recovers", func() bool { return sink.Count("slow") == 1 })
	if order := sink.Order(); order[len(order)-1] != "slow" {
		t.Fatalf("last delivered %q, want slow", order[len(order)-1])
	}
	t.Logf("slow failed %d attempts; the 1000 others were delivered meanwhile", slowAttempts.Load())
}

// TestRetryRunsBeforePoison proves the fixed order Poison ⟶ Requeue ⟶ Retry:
// an always-failing event is tried (1 + in-process retries) times per
// attempt, for every attempt of the schedule, before it is poisoned. With
// watermill#645's mis-ordering it would be poisoned after one try.
func TestRetryRunsBeforePoison(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits on a retry schedule")
	}
	t.Parallel()
	forEachBackend(t, testRetryRunsBeforePoison)
}

func testRetryRunsBeforePoison(t *testing.T, bc backendCase) {
	backend, pool, _ := bc.new(t)
	var calls atomic.Int32
	var healthy atomic.Bool
	failing := pipelinetest.NewSink(func(m *message.Message) error {
		if healthy.Load() {
			return nil
		}
		calls.Add(1)
		return errors.New("connection refused")
	})
	other := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "order",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("e1")}},
		Sinks: []router.Sink{
			{Name: "failing", Publisher: failing, Retry: &router.RetryPolicy{
				InProcess: fastRetry(), Schedule: middleware.List(time.Second, time.Second),
			}},
			{Name: "other", Publisher: other},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	q := poisonQueue(backend, pool)
	ctx := context.Background()
	pipelinetest.WaitFor(t, 30*time.Second, "the event to be poisoned", func() bool {
		n, _ := q.Count(ctx, router.PoisonFilter{Pipeline: "order"})
		return n == 1
	})
	recs, err := q.List(ctx, router.PoisonFilter{Pipeline: "order", Sink: "failing"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("list: %v %v", recs, err)
	}
	rec := recs[0]
	// 3 attempts (first + 2 scheduled), each 1 try + 2 in-process retries.
	if rec.Attempts != 3 || calls.Load() != 9 {
		t.Fatalf("poisoned after %d attempts and %d calls; want 3 attempts and 9 calls", rec.Attempts, calls.Load())
	}
	if rec.EventID != "e1" || rec.Reason == "" || rec.FirstFailure.After(rec.LastFailure) || !rec.LastFailure.After(rec.FirstFailure) {
		t.Fatalf("bad record: %+v", rec)
	}
	if other.Count("e1") != 1 {
		t.Fatalf("the healthy sink got e1 %d times, want 1", other.Count("e1"))
	}

	// Replay goes back to the failing sink only.
	healthy.Store(true)
	if err := q.Replay(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitFor(t, 20*time.Second, "the replayed event", func() bool { return failing.Count("e1") == 1 })
	time.Sleep(300 * time.Millisecond)
	if other.Count("e1") != 1 {
		t.Fatalf("replay reached the other sink too (%d deliveries)", other.Count("e1"))
	}
	if n, _ := q.Count(ctx, router.PoisonFilter{}); n != 0 {
		t.Fatalf("poison queue holds %d after replay", n)
	}
	if err := q.Replay(ctx, rec.ID); !errors.Is(err, router.ErrNotFound) {
		t.Fatalf("second replay: %v, want ErrNotFound", err)
	}
}

// TestRetryAfterWinsOverSchedule: a receiver's Retry-After (3 s) replaces the
// schedule's delay (1 h).
func TestRetryAfterWinsOverSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits on a retry")
	}
	t.Parallel()
	forEachBackend(t, testRetryAfterWinsOverSchedule)
}

func testRetryAfterWinsOverSchedule(t *testing.T, bc backendCase) {
	backend, _, _ := bc.new(t)
	sink := pipelinetest.NewSink(func(m *message.Message) error {
		if middleware.Attempts(m) == 0 {
			return middleware.RetryAfter(errors.New("429"), 2*time.Second)
		}
		return nil
	})
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "after",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource("e1")}},
		Sinks: []router.Sink{{Name: "hook", Publisher: sink, Retry: &router.RetryPolicy{
			InProcess: fastRetry(), Schedule: middleware.List(time.Hour),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 20*time.Second, "delivery after Retry-After", func() bool { return sink.Count("e1") == 1 })
}
