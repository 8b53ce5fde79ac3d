package router_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// TestNATSServerRestartMidRunLosesNothing kills the NATS server (SIGKILL)
// while a pipeline ingests and delivers, restarts it on the same store a
// second later, and checks that the router resumes on its own: every event
// reaches both sinks, and the stream stored each exactly once. Ingests
// that fail during the outage are nacked and redelivered by the source;
// acks lost with the server are redelivered after AckWait.
func TestNATSServerRestartMidRunLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts a nats-server")
	}
	t.Parallel()
	restartMidRun(t, natstest.Start(t), (*natstest.Server).Stop)
}

// TestNATSServerGracefulRestartLosesNothing is the same with a graceful
// stop (SIGTERM): publishes reach the server while it shuts JetStream
// down, and every one it acknowledged must still be in the stream after
// the restart (its source was acked: nothing else would bring it back).
// nats-server 2.9.10 fails it (a dozen acknowledged events gone in every
// run); the backend warns about servers older than router.SafeNATSServer,
// and this test runs only on those it vouches for (CI sets NATS_SERVER to
// one; under TRIBUTARY_REQUIRE_PEERS an older one fails it).
func TestNATSServerGracefulRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts a nats-server")
	}
	t.Parallel()
	srv := natstest.Start(t)
	if v := srv.Version(); router.VersionBelow(v, router.SafeNATSServer) {
		msg := fmt.Sprintf("nats-server %q is older than %s, which loses acknowledged events across a graceful restart "+
			"(docs/backends.md); set NATS_SERVER to a newer one", v, router.SafeNATSServer)
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	restartMidRun(t, srv, (*natstest.Server).Shutdown)
}

func restartMidRun(t *testing.T, srv *natstest.Server, stop func(*natstest.Server)) {
	const n = 400
	pool := pgtest.NewPool(t)
	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool, AckWait: 2 * time.Second})
	ids := pipelinetest.EventIDs("ev", n)
	slow := func(*message.Message) error { time.Sleep(2 * time.Millisecond); return nil }
	a, b := pipelinetest.NewSink(slow), pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "restart",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(ids...)}},
		Sinks:   []router.Sink{{Name: "a", Publisher: a}, {Name: "b", Publisher: b, Concurrency: 8}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "a quarter of the events", func() bool { return a.Distinct() >= n/4 })
	stop(srv)
	stoppedAt := a.Distinct()
	time.Sleep(time.Second)
	srv.Restart()
	if stoppedAt >= n {
		t.Fatal("everything was delivered before the server stopped; the test proves nothing")
	}
	for deadline := time.Now().Add(60 * time.Second); a.Distinct() < n || b.Distinct() < n; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			var missA, missB []string
			for _, id := range ids {
				if a.Count(id) == 0 {
					missA = append(missA, id)
				}
				if b.Count(id) == 0 {
					missB = append(missB, id)
				}
			}
			t.Fatalf("after the restart, sink a misses %v and b misses %v (stopped after %d delivered); stream %+v",
				missA, missB, stoppedAt, streamState(t, srv.URL, "restart"))
		}
	}
	if stored := storedEvents(t, pool, srv.URL, "restart"); stored != n {
		t.Fatalf("stream stored %d events, want exactly %d", stored, n)
	}
	t.Logf("server stopped after %d events; deliveries after restart: a %d (%d distinct), b %d (%d distinct)",
		stoppedAt, a.Len(), a.Distinct(), b.Len(), b.Distinct())
}

// TestJetStreamWarnsAboutUnsafeServer: the backend logs an error at start
// exactly when the server is older than router.SafeNATSServer.
func TestJetStreamWarnsAboutUnsafeServer(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	log := &stormLog{}
	r, err := router.New(router.Config{
		Backend: router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pgtest.NewPool(t)}),
		Logger:  stormLogger{log: log},
	}, router.Pipeline{
		Name:    "version",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource()}},
		Sinks:   []router.Sink{{Name: "s", Publisher: pipelinetest.NewSink(nil)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	warned := false
	log.mu.Lock()
	for _, l := range log.lines {
		warned = warned || strings.HasPrefix(l.msg, "nats-server is too old")
	}
	log.mu.Unlock()
	v := srv.Version()
	if want := router.VersionBelow(v, router.SafeNATSServer); warned != want {
		t.Fatalf("nats-server %q: warned %v, want %v (safe from %s)", v, warned, want, router.SafeNATSServer)
	}
}
