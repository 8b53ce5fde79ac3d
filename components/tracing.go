package components

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/tracing"
)

// tracingSubscriber starts a W3C trace for every message of a source whose
// provider sends none (event logs, batch feeds and sockets carry no trace
// context), so the trace travels to the sink like the generator's. A message
// that already carries a valid traceparent keeps it.
type tracingSubscriber struct {
	message.Subscriber
	done     chan struct{}
	doneOnce sync.Once
}

func startTraces(s message.Subscriber) *tracingSubscriber {
	return &tracingSubscriber{Subscriber: s, done: make(chan struct{})}
}

// Unwrap returns the source itself (tests and the admin page read its state).
func (t *tracingSubscriber) Unwrap() message.Subscriber { return t.Subscriber }

func (t *tracingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := t.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for m := range in {
			if !ValidTraceparent(m.Metadata.Get(MetaTraceparent)) {
				m.Metadata.Set(MetaTraceparent, EventTraceparent(tributary.EventID(m)))
			}
			select {
			case out <- m:
			case <-ctx.Done():
				m.Nack() // not handed over: the source keeps it
			case <-t.done:
				m.Nack()
			}
		}
	}()
	return out, nil
}

func (t *tracingSubscriber) Close() error {
	t.doneOnce.Do(func() { close(t.done) })
	return t.Subscriber.Close()
}

// EventTraceparent is the traceparent a source without trace context gives
// an event: derived from the event id, so a redelivered or re-read event
// keeps its trace, which makes a duplicate easy to follow.
func EventTraceparent(eventID string) string { return tracing.Format(tracing.ForEvent(eventID)) }
