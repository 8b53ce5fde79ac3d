package subscriptions_test

import (
	"context"
	"fmt"
	"github.com/tributary-dev/tributary"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

const crashEvents = 150

// TestKillMidDeliveryLosesNothing runs a pipeline whose sink is a
// subscriptions sink with three endpoints in a child process, kills it with
// SIGKILL while deliveries wait for their answers, restarts it, and checks
// that every endpoint receives every event, that each event was fanned out
// exactly once, and that what is repeated is bounded by what the killed
// child had claimed (2 × max_in_flight per endpoint).
func TestKillMidDeliveryLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a child process")
	}
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	store := subscriptions.NewStore(pool)

	in := pgtopic.NewPublisher(pool)
	for i := range crashEvents {
		m := event(fmt.Sprintf("k%03d", i), "comment.created", nil)
		if err := in.Publish("input", m); err != nil {
			t.Fatal(err)
		}
	}
	var recv []*receiver
	for i := range 3 {
		rc := newReceiver(t, fmt.Sprintf("tok-%d", i))
		recv = append(recv, rc)
		addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "crash", URL: rc.URL, Types: []string{"comment.*"}, Token: rc.token})
	}
	total := func() int {
		n := 0
		for _, rc := range recv {
			n += rc.distinct()
		}
		return n
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
		cmd.Env = append(os.Environ(), "TRIBUTARY_SUBS_CHILD=1", "CHILD_DB="+dbURL)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()
	pipelinetest.WaitFor(t, 60*time.Second, "the child to deliver a third", func() bool { return total() >= crashEvents })
	// Hold every answer: deliveries are in flight when the kill comes, and
	// none of them is accepted.
	hold := make(chan struct{})
	for _, rc := range recv {
		rc.mu.Lock()
		rc.hang = hold
		rc.mu.Unlock()
	}
	pipelinetest.WaitFor(t, 30*time.Second, "deliveries in flight", func() bool { return inFlight(t, pool) > 0 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	for _, rc := range recv {
		rc.mu.Lock()
		rc.hang = nil
		rc.mu.Unlock()
	}
	close(hold)
	killedAt := total()
	if killedAt >= 3*crashEvents {
		t.Fatalf("everything was delivered before the kill (%d): the test proves nothing", killedAt)
	}

	child = start()
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	pipelinetest.WaitFor(t, 120*time.Second, "every endpoint to receive every event after the restart", func() bool {
		return total() == 3*crashEvents
	})
	repeats := 0
	for _, rc := range recv {
		for _, n := range rc.ids() {
			repeats += n - 1
		}
	}
	t.Logf("killed after %d of %d deliveries; after the restart all delivered, %d repeated", killedAt, 3*crashEvents, repeats)
	if bound := 3 * 2 * 4; repeats > bound {
		t.Fatalf("%d deliveries repeated, want at most what the killed child had claimed (%d)", repeats, bound)
	}
	var events, deliveries int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM tributary_subscription_events),
		(SELECT count(*) FROM tributary_subscription_deliveries)`).Scan(&events, &deliveries); err != nil {
		t.Fatal(err)
	}
	if events != crashEvents || deliveries != 3*crashEvents {
		t.Fatalf("fanned out %d events into %d deliveries, want exactly %d and %d", events, deliveries, crashEvents, 3*crashEvents)
	}
}

// inFlight counts deliveries claimed and not yet answered.
func inFlight(t testing.TB, pool *pgxpool.Pool) int {
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_subscription_deliveries
		WHERE state = 'pending' AND next_at > now() + interval '1 second'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKillChild is the child of TestKillMidDeliveryLosesNothing.
func TestKillChild(t *testing.T) {
	if os.Getenv("TRIBUTARY_SUBS_CHILD") != "1" {
		t.Skip("runs only as the child of TestKillMidDeliveryLosesNothing")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("CHILD_DB"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := pgtopic.NewSubscriber(pool, pgtopic.SubscriberConfig{
		ConsumerGroup: "source", BatchSize: 10, PollInterval: 50 * time.Millisecond, ClaimTTL: 2 * time.Second,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := subscriptions.NewSink(subscriptions.Config{Pool: pool, Pipeline: "crash", Sink: "hooks",
		AllowPrivateNetworks: true, PollInterval: 50 * time.Millisecond, Timeout: 2 * time.Second, Lease: 3 * time.Second,
		Retry: "100ms,200ms,500ms,1s,1s,1s", Breaker: breakerOff}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	pg := router.Postgres(pool)
	pg.ClaimTTL = 2 * time.Second
	r, err := router.New(router.Config{Backend: pg}, router.Pipeline{
		Name:    "crash",
		Sources: []router.Source{{Name: "input", Source: tributary.FromSubscriber(src, "input")}},
		Sinks:   []router.Sink{{Name: "hooks", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "subscriptions crash child running")
	t.Fatal(r.Run(ctx))
}

// TestCleanStopRepeatsNothing closes the sink while deliveries are under way
// to slow receivers and starts another: every endpoint gets every event
// exactly once.
func TestCleanStopRepeatsNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := subscriptions.NewStore(pool)
	var recv []*receiver
	for i := range 2 {
		rc := newReceiver(t, fmt.Sprintf("tok-%d", i))
		rc.delay = 20 * time.Millisecond
		recv = append(recv, rc)
		addEndpoint(t, store, subscriptions.Endpoint{Pipeline: "stop", URL: rc.URL, Types: []string{"a"}, Token: rc.token})
	}
	first := newSink(t, pool, "stop")
	const n = 100
	for i := range n {
		publish(t, first, event(fmt.Sprintf("s%03d", i), "a", nil))
	}
	pipelinetest.WaitFor(t, 60*time.Second, "some deliveries", func() bool { return recv[0].distinct() >= 20 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := recv[0].distinct() + recv[1].distinct()
	newSink(t, pool, "stop")
	pipelinetest.WaitFor(t, 60*time.Second, "every delivery after the restart", func() bool {
		return recv[0].distinct() == n && recv[1].distinct() == n
	})
	for i, rc := range recv {
		for id, c := range rc.ids() {
			if c != 1 {
				t.Errorf("endpoint %d received %s %d times after a clean stop", i, id, c)
			}
		}
	}
	t.Logf("stopped after %d of %d deliveries", stoppedAt, 2*n)
}
