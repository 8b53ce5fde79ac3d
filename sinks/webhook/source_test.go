package webhook_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// listSource hands on a fixed list of events, redelivering each until acked.
type listSource struct {
	msgs   []*message.Message
	mu     sync.Mutex
	acked  int
	closed chan struct{}
	once   sync.Once
}

func newListSource(ids ...string) *listSource {
	s := &listSource{closed: make(chan struct{})}
	for _, id := range ids {
		s.msgs = append(s.msgs, tributary.NewEventMessage(id, fmt.Appendf(nil, `{"id":%q}`, id)))
	}
	return s
}

func (s *listSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for _, m := range s.msgs {
			for {
				msg := m.Copy()
				select {
				case out <- msg:
				case <-ctx.Done():
					return
				case <-s.closed:
					return
				}
				select {
				case <-msg.Acked():
				case <-msg.Nacked():
					time.Sleep(10 * time.Millisecond)
					continue
				case <-ctx.Done():
					return
				case <-s.closed:
					return
				}
				break
			}
			s.mu.Lock()
			s.acked++
			s.mu.Unlock()
		}
		select {
		case <-s.closed:
		case <-ctx.Done():
		}
	}()
	return out, nil
}

func (s *listSource) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ids
}

// runRouter runs r until the test ends.
func runRouter(t *testing.T, r interface {
	Run(context.Context) error
	Running() <-chan struct{}
}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("router stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("router did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("router: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("router did not stop")
		}
	})
}

// runRouterB runs r until the returned stop is called.
func runRouterB(b *testing.B, r *router.Router) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		b.Fatalf("router stopped: %v", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("router: %v", err)
		}
	}
}

// scaled compresses a list schedule by factor (e.g. 1/3000: an hour becomes 1.2 s).
func scaled(s middleware.Schedule, factor float64) middleware.Schedule {
	out := middleware.List()
	for n := 1; n <= s.Len(); n++ {
		d, _ := s.Delay(n)
		out.Delays = append(out.Delays, time.Duration(float64(d)*factor))
	}
	return out
}
