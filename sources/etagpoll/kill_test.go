package etagpoll

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// The child process of TestSIGKILLBetweenFetchAndAck is this test binary,
// re-executed with these variables set.
const (
	childEnv      = "TRIBUTARY_ETAGPOLL_KILL_CHILD"
	childDBEnv    = "TRIBUTARY_ETAGPOLL_KILL_DB"
	childAPIEnv   = "TRIBUTARY_ETAGPOLL_KILL_API"
	childStartEnv = "TRIBUTARY_ETAGPOLL_KILL_START"
)

// slowSource hands the source's groups on in parts of 10, with a pause
// before each, so that the parent can kill the child while a fetched window
// is only partly stored (a window of 200 stored as one group leaves no
// moment to kill the child in). A part that fails fails the group, which
// the source hands on again whole (dedup drops the parts already stored).
type slowSource struct {
	*Source
	pause time.Duration
}

func (s slowSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	return s.Source.Start(ctx, func(ctx context.Context, msgs ...*message.Message) error {
		for len(msgs) > 0 {
			part := msgs[:min(10, len(msgs))]
			time.Sleep(10 * s.pause)
			if err := emit(ctx, part...); err != nil {
				return err
			}
			msgs = msgs[len(part):]
		}
		return nil
	}, stopped)
}

type nopSink struct{}

func (nopSink) Publish(string, ...*message.Message) error { return nil }
func (nopSink) Close() error                              { return nil }

// TestKillChild is the child: a real router pipeline on the parent's
// database reading the parent's fake API, run until it is killed.
func TestKillChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as the child process of TestSIGKILLBetweenFetchAndAck")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(childDBEnv))
	if err != nil {
		t.Fatal(err)
	}
	start, err := time.Parse(time.RFC3339Nano, os.Getenv(childStartEnv))
	if err != nil {
		t.Fatal(err)
	}
	logger := watermill.NewStdLogger(false, false)
	src, err := NewSource(Config{
		BaseURL: os.Getenv(childAPIEnv), Checkpoints: checkpoint.NewStore(pool),
		StartFrom: start, Interval: 50 * time.Millisecond, PageSize: 10,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger}, router.Pipeline{
		Name:    "kill",
		Sources: []router.Source{{Name: "killed", Source: slowSource{src, 3 * time.Millisecond}}},
		Sinks:   []router.Sink{{Name: "nop", Publisher: nopSink{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(r.Run(ctx)) // never returns unless something is wrong
}

// TestSIGKILLBetweenFetchAndAck kills (SIGKILL) a process running the source
// in a real pipeline while a fetched window is being acked, twice, and
// restarts it each time. The fake API lives here in the parent. Every event
// must end up in the pipeline's topic exactly once, and no checkpoint may
// have advanced over the events that were fetched but not yet acked.
func TestSIGKILLBetweenFetchAndAck(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: child processes, Postgres and the router")
	}
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	api := newFakeAPI(t)
	api.maxPage = 10
	start := api.now().Add(-time.Hour)
	api.addLate(2 * time.Hour) // before the start: never delivered
	want := api.add(200)

	spawn := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childEnv+"=1", childDBEnv+"="+dbURL, childAPIEnv+"="+api.srv.URL,
			childStartEnv+"="+start.Format(time.RFC3339Nano))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, &out
	}
	stored := func() map[string]int {
		got, err := topicIDs(pool, "kill")
		if err != nil {
			return nil // the child has not created the topic yet
		}
		return got
	}
	kill := func(cmd *exec.Cmd, out *bytes.Buffer) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended by %v, not by SIGKILL; output:\n%s", cmd.ProcessState, out)
		}
	}

	for round := 1; round <= 2; round++ {
		cmd, out := spawn()
		before := len(stored())
		pipelinetest.WaitFor(t, 60*time.Second, fmt.Sprintf("round %d: the child to store part of the window", round), func() bool {
			return len(stored()) >= before+30
		})
		kill(cmd, out)
		n := len(stored())
		if n >= len(want) {
			t.Fatalf("round %d: the child stored all %d events before the kill; the kill did not land between fetch and ack", round, n)
		}
		if api.count("fetch") == 0 {
			t.Fatalf("round %d: killed before any fetch", round)
		}
		var st State
		if _, err := checkpoint.NewStore(pool).Load(context.Background(), "etagpoll/killed", &st); err != nil {
			t.Fatal(err)
		}
		if st.ETag != "" || !st.Cursor.IsZero() {
			t.Fatalf("round %d: checkpoint %+v advanced while only %d of %d fetched events were stored", round, st, n, len(want))
		}
		t.Logf("round %d: killed with %d of %d events stored; checkpoint %+v", round, n, len(want), st)
	}

	cmd, out := spawn()
	more := []string{}
	pipelinetest.WaitFor(t, 60*time.Second, "every event after the restart", func() bool {
		if len(more) == 0 && len(stored()) >= len(want) {
			more = api.add(20) // and new ones while it runs
		}
		return len(more) > 0 && len(missing(stored(), append(want, more...))) == 0
	})
	newest := findEvent(api, more[len(more)-1]).CreatedAt.UTC()
	pipelinetest.WaitFor(t, 30*time.Second, "the checkpoint to reach the newest event", func() bool {
		var st State
		_, _ = checkpoint.NewStore(pool).Load(context.Background(), "etagpoll/killed", &st)
		return st.ETag != "" && st.Cursor.Equal(newest)
	})
	kill(cmd, out)
	got := stored()
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	if len(got) != len(want)+len(more) {
		t.Errorf("topic holds %d events, want %d (history must not be delivered)", len(got), len(want)+len(more))
	}
}

func topicIDs(pool *pgxpool.Pool, pipeline string) (map[string]int, error) {
	rows, err := pool.Query(context.Background(),
		`SELECT metadata->>'tributary_event_id' FROM tributary_messages WHERE topic = $1`, router.Topic(pipeline))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id]++
	}
	return out, rows.Err()
}
