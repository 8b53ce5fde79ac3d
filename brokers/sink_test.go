package brokers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

const sinkEvents = 60

// TestSinkDeliversThroughOutage runs a pipeline whose broker sink sits
// behind a filter, next to a second sink, and makes the broker unreachable
// mid-flow: the broker sink's attempts fail and are recorded, the other
// sink is unaffected, and once the broker is back every event the filter
// keeps is on the broker, once, under its event id; none it drops is.
func TestSinkDeliversThroughOutage(t *testing.T) {
	t.Parallel()
	for _, b := range brokerCases {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := b.setup(t)
			log := &attempts{}
			sink := p.sink(t, p.url, log)
			other := pipelinetest.NewSink(nil)

			var msgs []*message.Message
			for i := range sinkEvents {
				typ := "keep.event"
				if i%3 == 2 {
					typ = "drop.event"
				}
				id := fmt.Sprintf("%s-%03d", typ, i)
				m := tributary.NewEventMessage(id, []byte(fmt.Sprintf(`{"id":%q,"n":%d}`, id, i)))
				m.Metadata.Set(tributary.MetaEventType, typ)
				msgs = append(msgs, m)
			}
			// The broker goes away once a third of what it should get is
			// delivered; it comes back once the other sink has everything.
			gate := make(chan struct{})
			src := pipelinetest.NewListSource(msgs...)
			retry := &router.RetryPolicy{InProcess: &middleware.Retry{}, Schedule: middleware.Linear(100*time.Millisecond, 1000)}
			r, err := router.New(router.Config{Backend: router.Memory()}, router.Pipeline{
				Name:    "brokers",
				Sources: []router.Source{{Name: "list", Source: src}},
				Sinks: []router.Sink{
					{Name: "broker", Publisher: &gated{Sink: sink, gate: gate, after: sinkEvents / 3 / 2}, Retry: retry,
						Filter: func(m *message.Message) (bool, error) {
							return strings.HasPrefix(m.Metadata.Get(tributary.MetaEventType), "keep."), nil
						}},
					{Name: "other", Publisher: other},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			pipelinetest.RunRouter(t, r)

			pipelinetest.WaitFor(t, time.Minute, "some deliveries to the broker", func() bool {
				return log.count(deliverylog.OutcomeSuccess) >= sinkEvents/3/2
			})
			p.cut()
			close(gate)
			pipelinetest.WaitFor(t, time.Minute, "failed attempts while the broker is away", func() bool {
				return log.count(deliverylog.OutcomeTransient) >= 2
			})
			pipelinetest.WaitFor(t, time.Minute, "the other sink to get every event", func() bool {
				return other.Distinct() == sinkEvents
			})
			p.restore()
			want := sinkEvents - sinkEvents/3
			pipelinetest.WaitFor(t, 2*time.Minute, "every kept event on the broker", func() bool {
				return log.count(deliverylog.OutcomeSuccess) >= want
			})

			// Read the broker back: each kept event once (a retried publish
			// may repeat one, under the same id), none dropped.
			got := newIDSet()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := consume(ctx, t, p.source(t, p.direct), got.add)
			pipelinetest.WaitFor(t, time.Minute, "every kept event read back", func() bool { return got.distinct() >= want })
			cancel()
			<-done
			ids := got.ids()
			if n := hasPrefix(ids, "keep."); n != want || len(ids) != want {
				t.Fatalf("read back %d distinct ids (%d kept ones), want %d kept: %v", len(ids), n, want, ids)
			}
			for _, m := range msgs {
				id := tributary.EventID(m)
				if strings.HasPrefix(id, "keep.") && got.meta[id].Get(tributary.MetaEventType) != "keep.event" {
					t.Errorf("%s: event type %q on the broker", id, got.meta[id].Get(tributary.MetaEventType))
				}
			}
			for _, a := range log.list() {
				if a.Pipeline != "brokers" || a.Sink != "broker" || a.Endpoint == "" || !strings.HasPrefix(a.EventID, "keep.") {
					t.Fatalf("attempt %+v: want pipeline, sink, endpoint and a kept event's id", a)
				}
				if a.Outcome == deliverylog.OutcomeTransient && a.Error == "" {
					t.Fatalf("failed attempt without its error: %+v", a)
				}
			}
			t.Logf("%d attempts failed while the broker was away", log.count(deliverylog.OutcomeTransient))
		})
	}
}

// gated holds deliveries after the first `after` until gate closes, so the
// cut comes mid-flow whatever the machine's speed. It embeds the sink, so
// the router still finds its Instrument.
type gated struct {
	*brokers.Sink
	gate  <-chan struct{}
	after int64
	n     atomic.Int64
}

func (g *gated) Publish(topic string, msgs ...*message.Message) error {
	if g.n.Add(1) > g.after {
		<-g.gate
	}
	return g.Sink.Publish(topic, msgs...)
}
