package brokers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

const sourceEvents = 90

// TestSourceReadsThroughOutage feeds a source messages of another producer
// and makes the broker unreachable mid-flow: every message becomes an event
// under the id the producer gave it (the broker's message id, or the id
// field of the body), none is lost, and a message seen twice (the broker
// redelivers what was not acked when the connection went) has the same id.
func TestSourceReadsThroughOutage(t *testing.T) {
	t.Parallel()
	for _, b := range brokerCases {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := b.setup(t)
			want := map[string]bool{}
			for i := range sourceEvents {
				id := fmt.Sprintf("order-%03d", i)
				want[id] = true
				p.foreign(t, id, []byte(fmt.Sprintf(`{"id":%q,"type":"order.created","n":%d}`, id, i)))
			}

			got := newIDSet()
			hold := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := p.source(t, p.url)
			done := consume(ctx, t, src, func(m *message.Message) {
				got.add(m)
				if got.distinct() == sourceEvents/3 {
					<-hold // the broker goes away with this one unacked
				}
			})
			pipelinetest.WaitFor(t, time.Minute, "a third of the messages", func() bool { return got.distinct() >= sourceEvents/3 })
			p.cut()
			close(hold)
			time.Sleep(200 * time.Millisecond) // let the clients notice
			p.restore()
			pipelinetest.WaitFor(t, 2*time.Minute, "every message after the outage", func() bool { return got.distinct() >= sourceEvents })
			_ = src.Close()
			cancel()
			<-done

			for _, id := range got.ids() {
				if !want[id] {
					t.Errorf("event id %q: not one the producer sent", id)
				}
			}
			if got.distinct() != sourceEvents {
				t.Fatalf("%d distinct events, want %d", got.distinct(), sourceEvents)
			}
			got.mu.Lock()
			defer got.mu.Unlock()
			repeats := 0
			for id, n := range got.count {
				repeats += n - 1
				md := got.meta[id]
				if md.Get(tributary.MetaEventType) != "order.created" {
					t.Errorf("%s: event type %q, want the body's type", id, md.Get(tributary.MetaEventType))
				}
				for k := range md {
					if strings.HasPrefix(k, "_watermill") {
						t.Errorf("%s: metadata %q handed on", id, k)
					}
				}
			}
			t.Logf("%d redeliveries, each under its first id", repeats)
		})
	}
}
