package router_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

const crashEvents = 300

// crashBatch is the child's claim size: the bound on what a kill repeats.
const crashBatch = 20

// TestCrashMidDeliveryLosesNothing runs a pipeline in a child process, kills
// it with SIGKILL while it delivers (one delivery at a time, and 16 at once),
// restarts it, and checks that every event reaches the receiver at least
// once, is stored in the topic exactly once, and that what is repeated is
// bounded by the sink's claim.
func TestCrashMidDeliveryLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a child process")
	}
	t.Parallel()
	for _, bc := range backendCases {
		for _, concurrency := range []int{1, 16} {
			t.Run(fmt.Sprintf("%s/concurrency=%d", bc.name, concurrency), func(t *testing.T) {
				t.Parallel()
				crashMidDelivery(t, bc.name, concurrency)
			})
		}
	}
}

func crashMidDelivery(t *testing.T, backend string, concurrency int) {
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	var nats string
	if backend == "jetstream" {
		nats = natstest.Start(t).URL
	}

	// The durable input: a Postgres topic the child's source reads as a
	// consumer group, so unacked input is redelivered after the kill.
	in := pgtopic.NewPublisher(pool)
	for _, id := range pipelinetest.EventIDs("crash", crashEvents) {
		if err := in.Publish("input", tributary.NewEventMessage(id, []byte(`{"id":"`+id+`"}`))); err != nil {
			t.Fatal(err)
		}
	}

	recv := newReceiver(3 * time.Millisecond)
	srv := httptest.NewServer(recv)
	defer srv.Close()

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), "TRIBUTARY_CRASH_CHILD=1", "CHILD_DB="+dbURL, "CHILD_RECEIVER="+srv.URL,
			"CHILD_CONCURRENCY="+strconv.Itoa(concurrency), "CHILD_NATS="+nats)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	child := start()
	pipelinetest.WaitFor(t, 60*time.Second, "the child to deliver a third of the events", func() bool {
		d, _ := recv.counts()
		return d >= crashEvents/3
	})
	// Kill it while a delivery waits for its answer: an event in flight,
	// which the receiver never accepts, is delivered only if the restarted
	// child gets it again.
	release := recv.hold()
	defer release()
	pipelinetest.WaitFor(t, 60*time.Second, "a delivery in flight", func() bool { return recv.held() > 0 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	release()
	killedAt, _ := recv.counts()
	if killedAt >= crashEvents {
		t.Fatalf("the child delivered everything (%d) before it was killed; the test proves nothing", killedAt)
	}

	child = start()
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	pipelinetest.WaitFor(t, 90*time.Second, "every event after the restart", func() bool {
		d, _ := recv.counts()
		return d == crashEvents
	})
	distinct, total := recv.counts()
	t.Logf("killed after %d events with %d in flight (refused); after restart %d distinct, %d deliveries (%d repeated)", killedAt, recv.held(), distinct, total, total-distinct)
	// What a SIGKILL repeats is bounded by what the sink had claimed: one
	// claim of BatchSize messages (delivered ones whose claim was not yet
	// completed, and the one in flight); on JetStream, by what was in
	// flight (Concurrency, every ack being confirmed by the server).
	if repeats := total - distinct; repeats > crashBatch {
		t.Fatalf("%d deliveries repeated after SIGKILL, want at most the sink's claim of %d", repeats, crashBatch)
	}

	if stored := storedEvents(t, pool, nats, "crash"); stored != crashEvents {
		t.Fatalf("topic holds %d events, want exactly %d", stored, crashEvents)
	}
}

// TestCrashChild is the child of TestCrashMidDeliveryLosesNothing.
func TestCrashChild(t *testing.T) {
	if os.Getenv("TRIBUTARY_CRASH_CHILD") != "1" {
		t.Skip("runs only as the child of TestCrashMidDeliveryLosesNothing")
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
	pg := router.Postgres(pool)
	pg.ClaimTTL = 2 * time.Second // the restarted child takes over the killed one's claims soon
	pg.BatchSize = crashBatch
	var backend router.Backend = pg
	if url := os.Getenv("CHILD_NATS"); url != "" {
		// What the killed child had in flight comes back after AckWait.
		backend = router.JetStream(router.JetStreamConfig{URL: url, Pool: pool, AckWait: 2 * time.Second})
	}
	concurrency, _ := strconv.Atoi(os.Getenv("CHILD_CONCURRENCY"))
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "crash",
		Sources: []router.Source{{Name: "input", Source: tributary.FromSubscriber(src, "input")}},
		Sinks: []router.Sink{{Name: "receiver", Publisher: httpSink{url: os.Getenv("CHILD_RECEIVER"), client: http.DefaultClient},
			Concurrency: concurrency}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "crash child running")
	t.Fatal(r.Run(ctx)) // runs until killed
}

var _ message.Subscriber = (*pgtopic.Subscriber)(nil)
