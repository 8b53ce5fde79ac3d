package router_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// funcSource hands its events to the router's function one at a time, the
// way sources/etagpoll does, and records which were acked.
type funcSource struct {
	ids    []string
	mu     sync.Mutex
	acked  []string
	closed bool
	wg     sync.WaitGroup
}

func (s *funcSource) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	panic("the router must call SubscribeFunc")
}

func (s *funcSource) SubscribeFunc(ctx context.Context, _ string, handle func(*message.Message)) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, id := range s.ids {
			for ctx.Err() == nil {
				m := tributary.NewEventMessage(id, []byte(`{}`))
				handle(m)
				select {
				case <-m.Acked():
				case <-m.Nacked():
					continue
				}
				s.mu.Lock()
				s.acked = append(s.acked, id)
				s.mu.Unlock()
				break
			}
		}
	}()
	return nil
}

func (s *funcSource) Close() error {
	s.wg.Wait()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// TestFuncSubscriberSource: a source that takes a function is run by the
// router itself, given as Subscriber or (under leadership) built by New:
// every event is acked (after ingest), delivered once, and the source is
// closed when the router stops.
func TestFuncSubscriberSource(t *testing.T) {
	t.Parallel()
	for _, led := range []bool{false, true} {
		t.Run(map[bool]string{false: "subscriber", true: "led"}[led], func(t *testing.T) {
			t.Parallel()
			testFuncSubscriberSource(t, led)
		})
	}
}

func testFuncSubscriberSource(t *testing.T, led bool) {
	sink := pipelinetest.NewSink(nil)
	ids := pipelinetest.EventIDs("f", 10)
	src := &funcSource{ids: ids}
	cfg := router.Config{Backend: router.Memory()}
	source := router.Source{Name: "f", Subscriber: src}
	if led {
		cfg = router.Config{Backend: router.Postgres(pgtest.NewPool(t)), Leadership: &router.Leadership{}}
		source = router.Source{Name: "f", New: func() (message.Subscriber, error) { return src, nil }}
	}
	r, err := router.New(cfg, router.Pipeline{
		Name: "func", Sources: []router.Source{source},
		Sinks: []router.Sink{{Name: "s", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	pipelinetest.WaitFor(t, 10*time.Second, "delivery", func() bool { return sink.Distinct() == len(ids) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.acked) != len(ids) || !src.closed {
		t.Fatalf("acked %d of %d, closed %v", len(src.acked), len(ids), src.closed)
	}
}
