package router_test

import (
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
	const n = 400
	srv := natstest.Start(t)
	pool := pgtest.NewPool(t)
	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool, AckWait: 2 * time.Second})
	ids := pipelinetest.EventIDs("ev", n)
	slow := func(*message.Message) error { time.Sleep(2 * time.Millisecond); return nil }
	a, b := pipelinetest.NewSink(slow), pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "restart",
		Sources: []router.Source{{Name: "src", Subscriber: pipelinetest.NewEventSource(ids...)}},
		Sinks:   []router.Sink{{Name: "a", Publisher: a}, {Name: "b", Publisher: b, Concurrency: 8}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 30*time.Second, "a quarter of the events", func() bool { return a.Distinct() >= n/4 })
	srv.Stop()
	stoppedAt := a.Distinct()
	time.Sleep(time.Second)
	srv.Restart()
	if stoppedAt >= n {
		t.Fatal("everything was delivered before the server stopped; the test proves nothing")
	}
	pipelinetest.WaitFor(t, 60*time.Second, "every event on both sinks after the restart", func() bool {
		return a.Distinct() == n && b.Distinct() == n
	})
	if stored := storedEvents(t, pool, srv.URL, "restart"); stored != n {
		t.Fatalf("stream stored %d events, want exactly %d", stored, n)
	}
	t.Logf("server killed after %d events; deliveries after restart: a %d (%d distinct), b %d (%d distinct)",
		stoppedAt, a.Len(), a.Distinct(), b.Len(), b.Distinct())
}
