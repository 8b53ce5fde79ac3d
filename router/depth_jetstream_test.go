package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// TestJetStreamSinkDepth: the queue depths the admin page and the gauges
// show for a pipeline on JetStream count what waits in its streams — a
// stuck sink's unacked messages as lag, a failing sink's requeued ones as
// retries — and fall to zero once delivered.
func TestJetStreamSinkDepth(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pgtest.NewPool(t)})
	gate := make(chan struct{})
	stuck := pipelinetest.NewSink(func(*message.Message) error { <-gate; return nil })
	flaky := pipelinetest.NewSink(func(*message.Message) error {
		select {
		case <-gate:
			return nil
		default:
			return errors.New("receiver down")
		}
	})
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    "depth",
		Sources: []router.Source{{Name: "src", Source: pipelinetest.NewEventSource(pipelinetest.EventIDs("ev", 5)...)}},
		Sinks: []router.Sink{
			{Name: "stuck", Publisher: stuck},
			{Name: "flaky", Publisher: flaky, Retry: &router.RetryPolicy{InProcess: fastRetry(), Schedule: middleware.List(10*time.Second, 10*time.Second)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	depth := func(sink string) (lag, retry int64) {
		lag, retry, err := backend.SinkDepth(context.Background(), "depth", sink)
		if err != nil {
			t.Fatal(err)
		}
		return lag, retry
	}
	pipelinetest.WaitFor(t, 30*time.Second, "five unacked on the stuck sink, five retries on the failing one", func() bool {
		stuckLag, stuckRetry := depth("stuck")
		flakyLag, flakyRetry := depth("flaky")
		return stuckLag == 5 && stuckRetry == 0 && flakyLag == 0 && flakyRetry == 5
	})
	close(gate)
	pipelinetest.WaitFor(t, 60*time.Second, "every depth back to zero once the sinks recover", func() bool {
		a, b := depth("stuck")
		c, d := depth("flaky")
		return a+b+c+d == 0 && stuck.Distinct() == 5 && flaky.Distinct() == 5
	})
}
