package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// listSource is a source that hands on a fixed list of events, one at a time,
// redelivering each until it is acked — what a real source must do.
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
		s.msgs = append(s.msgs, tributary.NewEventMessage(id, []byte(fmt.Sprintf(`{"id":%q}`, id))))
	}
	return s
}

func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return ids
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

func (s *listSource) Acked() int { s.mu.Lock(); defer s.mu.Unlock(); return s.acked }

// recordingSink records what it delivers; fail decides per delivery whether
// to fail and how.
type recordingSink struct {
	mu    sync.Mutex
	got   map[string]int
	order []string
	fail  func(msg *message.Message) error
}

func newRecordingSink(fail func(*message.Message) error) *recordingSink {
	return &recordingSink{got: map[string]int{}, fail: fail}
}

func (s *recordingSink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if s.fail != nil {
			if err := s.fail(m); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.got[tributary.EventID(m)]++
		s.order = append(s.order, tributary.EventID(m))
		s.mu.Unlock()
	}
	return nil
}

func (s *recordingSink) Close() error { return nil }

func (s *recordingSink) Distinct() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

func (s *recordingSink) Count(id string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.got[id] }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
