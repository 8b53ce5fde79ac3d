package router_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// closingSubscriber hands on one message, then closes its channel on its
// own when stop is closed (a Watermill subscriber whose loop returned).
type closingSubscriber struct{ stop chan struct{} }

func (s closingSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		select {
		case out <- tributary.NewEventMessage("ev-1", []byte(`{}`)):
		case <-ctx.Done():
			return
		}
		select {
		case <-s.stop:
		case <-ctx.Done():
		}
	}()
	return out, nil
}

func (s closingSubscriber) Close() error { return nil }

// TestSourceStoppingOnItsOwnIsAFailure: a source that stops on its own —
// with a reason, without one, or a Subscriber whose channel closes — is
// recorded by the router as failed, with the reason, in SourceFailures,
// SourceFailed and tributary_source_up 0, while the rest runs on; sources
// the router stops are not failures.
func TestSourceStoppingOnItsOwnIsAFailure(t *testing.T) {
	t.Parallel()
	stopSub := make(chan struct{})
	cases := []struct {
		name   string
		src    tributary.Source
		reason string
	}{
		{"with-reason", tributary.SourceFunc(func(ctx context.Context, emit tributary.Emit) error {
			return errors.New(`feed "x" not found (404)`)
		}), `feed "x" not found (404)`},
		{"without-reason", tributary.SourceFunc(func(ctx context.Context, emit tributary.Emit) error { return nil }), tributary.ErrSourceStopped.Error()},
		{"subscriber", tributary.FromSubscriber(closingSubscriber{stopSub}, ""), tributary.ErrSourceStopped.Error()},
	}
	sources := []router.Source{{Name: "runs-on", Source: pipelinetest.NewEventSource("ok-1")}}
	for _, c := range cases {
		sources = append(sources, router.Source{Name: c.name, Source: c.src})
	}
	reg := prometheus.NewRegistry()
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Memory(), Metrics: reg}, router.Pipeline{
		Name: "fails", Sources: sources, Sinks: []router.Sink{{Name: "s", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := pipelinetest.RunRouter(t, r)
	pipelinetest.WaitFor(t, 10*time.Second, "the subscriber's message", func() bool { return sink.Count("ev-1") == 1 })
	close(stopSub)
	select {
	case <-r.SourceFailed():
	case <-time.After(10 * time.Second):
		t.Fatal("SourceFailed not closed")
	}
	pipelinetest.WaitFor(t, 10*time.Second, "every failure", func() bool { return len(r.SourceFailures()) == len(cases) })
	for _, c := range cases {
		var found bool
		for _, f := range r.SourceFailures() {
			if f.Source == c.name {
				found = true
				if f.Pipeline != "fails" || !strings.Contains(f.Reason, c.reason) {
					t.Errorf("%s: failure %+v, want reason %q", c.name, f, c.reason)
				}
			}
		}
		if !found {
			t.Errorf("%s: not recorded as failed", c.name)
		}
		if up := testutil.ToFloat64(metrics.NewSource(reg, "fails", c.name).Up); up != 0 {
			t.Errorf("%s: tributary_source_up = %v, want 0", c.name, up)
		}
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the other source's event", func() bool { return sink.Count("ok-1") == 1 })
	stop()
	if n := len(r.SourceFailures()); n != len(cases) {
		t.Fatalf("%d failures after a clean stop, want %d (a stop is no failure)", n, len(cases))
	}
}
