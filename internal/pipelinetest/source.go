package pipelinetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// ListSource is a message.Subscriber that hands on a fixed list of
// messages, one at a time, redelivering each (a fresh copy, after 10 ms)
// until it is acked — what a real source must do. After the last it waits
// for ctx or Close, then closes its channel.
type ListSource struct {
	msgs   []*message.Message
	mu     sync.Mutex
	acked  int
	closed chan struct{}
	once   sync.Once
}

// NewListSource returns a source of msgs.
func NewListSource(msgs ...*message.Message) *ListSource {
	return &ListSource{msgs: msgs, closed: make(chan struct{})}
}

// NewEventSource returns a source of events with the given ids, each with
// the payload {"id":"<id>"}.
func NewEventSource(ids ...string) *ListSource {
	msgs := make([]*message.Message, len(ids))
	for i, id := range ids {
		msgs[i] = tributary.NewEventMessage(id, fmt.Appendf(nil, `{"id":%q}`, id))
	}
	return NewListSource(msgs...)
}

// EventIDs returns n ids "<prefix>-0000", "<prefix>-0001", ….
func EventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return ids
}

// Subscribe implements message.Subscriber.
func (s *ListSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for _, m := range s.msgs {
			if !s.deliver(ctx, out, m) {
				return
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

// deliver sends copies of m until one is acked; false when stopped first.
func (s *ListSource) deliver(ctx context.Context, out chan<- *message.Message, m *message.Message) bool {
	for {
		msg := m.Copy()
		select {
		case out <- msg:
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		}
		select {
		case <-msg.Acked():
			return true
		case <-msg.Nacked():
			time.Sleep(10 * time.Millisecond)
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		}
	}
}

// Close implements message.Subscriber.
func (s *ListSource) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

// Acked is how many messages have been acked so far.
func (s *ListSource) Acked() int { s.mu.Lock(); defer s.mu.Unlock(); return s.acked }
