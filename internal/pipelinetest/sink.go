package pipelinetest

import (
	"maps"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// Sink is a message.Publisher that records what it delivers. Fail, if set
// before use, decides per message whether the delivery fails and how; a
// failed message is not recorded.
type Sink struct {
	Fail func(msg *message.Message) error

	mu    sync.Mutex
	count map[string]int
	order []string
	msgs  []*message.Message
	meta  map[string]message.Metadata
}

// NewSink returns a sink that fails as fail says (never, when nil).
func NewSink(fail func(*message.Message) error) *Sink { return &Sink{Fail: fail} }

// Publish implements message.Publisher.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if s.Fail != nil {
			if err := s.Fail(m); err != nil {
				return err
			}
		}
		id := tributary.EventID(m)
		s.mu.Lock()
		if s.count == nil {
			s.count, s.meta = map[string]int{}, map[string]message.Metadata{}
		}
		s.count[id]++
		s.order = append(s.order, id)
		s.msgs = append(s.msgs, m.Copy())
		s.meta[id] = m.Metadata
		s.mu.Unlock()
	}
	return nil
}

// Close implements message.Publisher.
func (s *Sink) Close() error { return nil }

// Count is how many times the event id was delivered.
func (s *Sink) Count(id string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.count[id] }

// Distinct is how many distinct event ids were delivered.
func (s *Sink) Distinct() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.count) }

// Len is how many deliveries there were, repeats included.
func (s *Sink) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.order) }

// Counts returns a copy of the deliveries per event id.
func (s *Sink) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.count)
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// Order returns the event ids in delivery order, repeats included.
func (s *Sink) Order() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.order) }

// Messages returns copies of the delivered messages, in delivery order.
func (s *Sink) Messages() []*message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Metadata is the metadata of the last delivery of the event id.
func (s *Sink) Metadata(id string) message.Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta[id]
}
