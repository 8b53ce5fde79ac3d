package components

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// tracedSubscriber starts a W3C trace for every message of a source whose
// provider sends none (a socket event carries no trace context), so the
// trace travels to the sink like the generator's. The trace is derived from
// the event id: a redelivered or re-sent event keeps its trace, which makes
// a duplicate easy to follow.
type tracedSubscriber struct {
	message.Subscriber
}

// Unwrap returns the wrapped source (for status and operator hooks).
func (s tracedSubscriber) Unwrap() message.Subscriber { return s.Subscriber }

func (s tracedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			if !ValidTraceparent(msg.Metadata.Get(MetaTraceparent)) {
				msg.Metadata.Set(MetaTraceparent, EventTraceparent(tributary.EventID(msg)))
			}
			select {
			case out <- msg:
			case <-ctx.Done():
				msg.Nack() // not handed over: the source keeps it
				return
			}
		}
	}()
	return out, nil
}

// EventTraceparent is the traceparent a source without trace context gives
// event id: version 00, trace and parent id from SHA-256 of the id, sampled.
func EventTraceparent(eventID string) string {
	sum := sha256.Sum256([]byte("tributary-trace:" + eventID))
	tp := "00-" + hex.EncodeToString(sum[:16]) + "-" + hex.EncodeToString(sum[16:24]) + "-01"
	if !ValidTraceparent(tp) { // an all-zero id: astronomically unlikely, still never invalid
		return NewTraceparent()
	}
	return tp
}
