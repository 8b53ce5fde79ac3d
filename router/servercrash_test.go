package router_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

const serverCrashEvents = 1500

// TestServerAndProcessCrashLoseNothing crashes the PostgreSQL server
// (`pg_ctl stop -m immediate` of a cluster the test owns: no checkpoint, no
// flush of what is in its memory) and SIGKILLs the router's process, both
// mid-flow — senders POSTing webhooks to a webhookin source, the router
// claiming, delivering and completing — then restarts both. The server runs
// as a durable server does (synchronous_commit on), with the WAL writer slow
// (wal_writer_delay 10 s), so a commit that did not wait for its WAL is
// lost in the crash.
//
// The claims, completions and leases commit without waiting (pgtopic's
// relaxCommit); the ingest commit, which the sender's 2xx depends on,
// waits. So: every event a sender got a 2xx for reaches the receiver
// (senders never send it again), each is stored once (its dedup key commits
// with it), and repeats are allowed.
func TestServerAndProcessCrashLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: crashes a PostgreSQL cluster of its own and a child process")
	}
	t.Parallel()
	cluster := pgtest.NewCluster(t, map[string]string{
		"fsync":              "off", // an immediate stop is a crash of the server, not of the machine: written WAL stays
		"synchronous_commit": "on", "wal_writer_delay": "'10s'",
	})
	dbURL := cluster.NewDatabase("crash")
	pool := pgtest.PoolFor(t, dbURL)

	recv := newReceiver(time.Millisecond)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	listen := freeAddr(t)

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServerCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), "TRIBUTARY_SERVER_CRASH_CHILD=1", "CHILD_DB="+dbURL,
			"CHILD_RECEIVER="+srv.URL, "CHILD_LISTEN="+listen)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	child := start()

	// Senders: each event is POSTed until it is answered 2xx, then
	// forgotten, as a provider does.
	ids := make(chan string, serverCrashEvents)
	for i := range serverCrashEvents {
		ids <- fmt.Sprintf("sc-%05d", i)
	}
	var mu sync.Mutex
	accepted := map[string]time.Time{}
	ctx, stopSenders := context.WithCancel(context.Background())
	defer stopSenders()
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var id string
				select {
				case id = <-ids:
				case <-ctx.Done():
					return
				}
				resp, err := client.Post("http://"+listen+"/", "application/json", bytes.NewReader([]byte(`{"id":"`+id+`","type":"t"}`)))
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 {
					ids <- id // the sender's retry
					select {
					case <-time.After(50 * time.Millisecond):
					case <-ctx.Done():
						return
					}
					continue
				}
				mu.Lock()
				accepted[id] = time.Now()
				mu.Unlock()
			}
		}()
	}

	pipelinetest.WaitFor(t, 90*time.Second, "a third of the events delivered", func() bool {
		d, _ := recv.counts()
		return d >= serverCrashEvents/3
	})
	cluster.Crash()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	mu.Lock()
	acceptedAtCrash := len(accepted)
	mu.Unlock()
	deliveredAtCrash, _ := recv.counts()
	if acceptedAtCrash >= serverCrashEvents {
		t.Fatalf("every event was accepted (%d) before the crash; the test proves nothing", acceptedAtCrash)
	}

	cluster.Start()
	child = start()
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	deadline := time.Now().Add(120 * time.Second)
	for {
		if d, _ := recv.counts(); d == serverCrashEvents {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			lost := missing(recv, accepted)
			mu.Unlock()
			t.Fatalf("after the restart, %d events answered 2xx never reached the receiver (lost), e.g. %v",
				len(lost), lost[:min(len(lost), 10)])
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopSenders()
	wg.Wait()
	distinct, total := recv.counts()
	t.Logf("crashed with %d events accepted (2xx) and %d delivered; after restart %d distinct, %d deliveries (%d repeated)",
		acceptedAtCrash, deliveredAtCrash, distinct, total, total-distinct)
	if n := storedEvents(t, pool, "", "crash"); n != serverCrashEvents {
		t.Fatalf("topic holds %d events, want exactly %d (each once: its dedup key commits with it)", n, serverCrashEvents)
	}
}

// missing lists the ids of accepted that the receiver never got (for a
// failure's message).
func missing(r *receiver, accepted map[string]time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := range accepted {
		if r.got[id] == 0 {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServerCrashChild is the child of TestServerAndProcessCrashLoseNothing:
// webhookin → Postgres topic → an HTTP sink, until killed.
func TestServerCrashChild(t *testing.T) {
	if os.Getenv("TRIBUTARY_SERVER_CRASH_CHILD") != "1" {
		t.Skip("runs only as the child of TestServerAndProcessCrashLoseNothing")
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("CHILD_DB"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CHILD_ASYNC_INGEST") == "1" {
		// The control: every commit without waiting for the disk, ingest's
		// too. The parent then finds accepted events lost.
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := webhookin.NewSource(webhookin.Config{AllowUnauthenticated: true, MaxConcurrentRequests: 64, AckTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Addr: os.Getenv("CHILD_LISTEN"), Handler: in, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "child listen:", err)
			os.Exit(1)
		}
	}()
	pg := router.Postgres(pool)
	pg.ClaimTTL = 2 * time.Second
	pg.BatchSize = 20
	r, err := router.New(router.Config{Backend: pg, Logger: watermill.NopLogger{}}, router.Pipeline{
		Name:    "crash",
		Sources: []router.Source{{Name: "hooks", Source: tributary.FromSubscriber(in, "")}},
		Sinks: []router.Sink{{Name: "receiver", Publisher: httpSink{url: os.Getenv("CHILD_RECEIVER"), client: http.DefaultClient},
			Concurrency: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "server crash child running")
	t.Fatal(r.Run(ctx)) // runs until killed
}
