package batchfeed

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// The crash test re-runs this test binary as a child that runs a real
// pipeline (router, Postgres topic, this source) against the parent's fake
// feed, and kills it with SIGKILL: no deferred code, no graceful close.
const (
	envChild    = "BATCHFEED_CRASH_CHILD"
	envFeedURL  = "BATCHFEED_CRASH_FEED_URL"
	envDBURL    = "BATCHFEED_CRASH_DB_URL"
	crashPipe   = "crash"
	crashFeedID = "journey"
)

type discardSink struct{}

func (discardSink) Publish(string, ...*message.Message) error { return nil }
func (discardSink) Close() error                              { return nil }

// TestCrashChild is the child's side; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("runs only as the child of TestSIGKILLBetweenStoringAndCompleting")
	}
	pool := pgtest.PoolFor(t, os.Getenv(envDBURL))
	src := newTestSource(t, Config{
		BaseURL: os.Getenv(envFeedURL), FeedID: crashFeedID,
		RequestTimeout: 5 * time.Second, PollInterval: 20 * time.Millisecond,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	})
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    crashPipe,
		Sources: []router.Source{{Name: crashFeedID, Source: src}},
		Sinks:   []router.Sink{{Name: "discard", Publisher: discardSink{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The parent kills us; the timeout only bounds a child left behind.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

type child struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startChild(t *testing.T, feedURL, dbURL string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"=1", envFeedURL+"="+feedURL, envDBURL+"="+dbURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: &out}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child %d output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return c
}

// kill9 sends SIGKILL and reaps the child.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, c.out.String())
	}
}

func TestSIGKILLBetweenStoringAndCompleting(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: kills a child process running a pipeline")
	}
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	env := newFeedEnv(t, pool, crashPipe, feedfake.Config{})
	all := notificationIDs(env.fake.Generate(crashFeedID, 205))

	// Phase 1: the second batch is stored (the guard checks the topic when
	// its complete arrives) and its complete never answers; we kill there.
	env.fake.Script(crashFeedID, feedfake.OpComplete, nil, &feedfake.Fault{Hang: true})
	atComplete := make(chan string, 1)
	var completes atomic.Int32
	env.onEachRequest(func(op feedfake.Op, _, batchID string) {
		if op == feedfake.OpComplete && completes.Add(1) == 2 {
			atComplete <- batchID
		}
	})
	c := startChild(t, env.srv.URL, dbURL)
	var second string
	select {
	case second = <-atComplete:
	case <-time.After(60 * time.Second):
		t.Fatalf("the child never completed a second batch:\n%s", c.out.String())
	}
	c.kill9(t)
	env.onEachRequest(nil)

	if got := pipelinetest.TopicIDs(t, pool, crashPipe); !slices.Equal(got, all[:20]) {
		t.Fatalf("after the kill the topic holds %v, want the first two batches", got)
	}
	if done := env.fake.Completed(crashFeedID); len(done) != 1 {
		t.Fatalf("completed %v before the kill, want only the first batch", done)
	}
	if cur := env.fake.Current(crashFeedID); cur == nil || cur.BatchID != second {
		t.Fatalf("the feed's current batch is %v, want the stored but uncompleted %s", cur, second)
	}

	// Phase 2: kills at random moments — mid-batch, mid-complete, anywhere.
	// More events each round keep the child busy when the kill lands.
	for i := range 4 {
		all = append(all, notificationIDs(env.fake.Generate(crashFeedID, 150))...)
		c := startChild(t, env.srv.URL, dbURL)
		time.Sleep(time.Duration(300+rand.IntN(600)) * time.Millisecond)
		c.kill9(t)
		t.Logf("random kill %d: %d notifications left in the feed", i, env.fake.Pending(crashFeedID))
	}

	// Phase 3: run to the end.
	c = startChild(t, env.srv.URL, dbURL)
	pipelinetest.WaitFor(t, 60*time.Second, "the feed to be empty", func() bool { return env.fake.Pending(crashFeedID) == 0 })
	c.kill9(t)

	env.assertSafeCompletes()
	if got := pipelinetest.TopicIDs(t, pool, crashPipe); !slices.Equal(got, all) {
		t.Fatalf("topic holds %d events %v\nwant each of the %d exactly once, in feed order", len(got), got, len(all))
	}
	if got := env.fake.CompletedIDs(crashFeedID); !slices.Equal(got, all) {
		t.Fatalf("completed %d notifications, want all %d in order", len(got), len(all))
	}
	if attempts := env.fake.CompleteAttempts(crashFeedID); attempts[1] != second || attempts[2] != second {
		t.Fatalf("complete attempts %v: after restart the stored batch %s must come back and be completed", attempts[:3], second)
	}
	var keys int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_dedup WHERE pipeline = $1`, crashPipe).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != len(all) {
		t.Fatalf("%d dedup keys, want %d", keys, len(all))
	}
}
