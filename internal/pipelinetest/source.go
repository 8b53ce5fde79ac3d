package pipelinetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/backoff"
)

// ListSource is a tributary.Source that hands on a fixed list of messages,
// one at a time, each again (a fresh copy, after 10 ms) until it is stored
// — what a real source must do. After the last it waits until stopped.
type ListSource struct {
	msgs  []*message.Message
	mu    sync.Mutex
	acked int
}

// NewListSource returns a source of msgs.
func NewListSource(msgs ...*message.Message) *ListSource {
	return &ListSource{msgs: msgs}
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

// Start implements tributary.Source.
func (s *ListSource) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	go func() {
		defer stopped(nil)
		for _, m := range s.msgs {
			for emit(ctx, m.Copy()) != nil {
				if backoff.Sleep(ctx, 10*time.Millisecond) != nil {
					return
				}
			}
			s.mu.Lock()
			s.acked++
			s.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
		}
		<-ctx.Done()
	}()
	return nil
}

// Acked is how many messages have been acked so far.
func (s *ListSource) Acked() int { s.mu.Lock(); defer s.mu.Unlock(); return s.acked }
