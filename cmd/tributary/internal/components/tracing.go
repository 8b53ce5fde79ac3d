package components

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// traceSalt keys the traces startTraces derives, so that they are
// unguessable and differ between processes.
var traceSalt = func() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}()

// eventTraceparent is the trace an event starts in this process: derived
// from its id, so a message the source hands on again after a nack keeps it.
func eventTraceparent(eventID string) string {
	h := sha256.New()
	h.Write(traceSalt)
	h.Write([]byte(eventID))
	sum := h.Sum(nil)
	sum[0] |= 1  // trace id not all zero
	sum[16] |= 1 // parent id not all zero
	return "00-" + hex.EncodeToString(sum[:16]) + "-" + hex.EncodeToString(sum[16:24]) + "-01"
}

// tracingSubscriber starts a W3C trace for every message of a provider
// source that did not bring one, so the sink can send `traceparent`.
type tracingSubscriber struct {
	message.Subscriber
	done     chan struct{}
	doneOnce sync.Once
}

func startTraces(s message.Subscriber) *tracingSubscriber {
	return &tracingSubscriber{Subscriber: s, done: make(chan struct{})}
}

// Subscribe implements message.Subscriber.
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
				m.Metadata.Set(MetaTraceparent, eventTraceparent(tributary.EventID(m)))
			}
			select {
			case out <- m:
			case <-ctx.Done():
				// The source stops too (same ctx) and never sees an ack.
			case <-t.done:
			}
		}
	}()
	return out, nil
}

// Close implements message.Subscriber: the source's channel closes, and so
// does ours.
func (t *tracingSubscriber) Close() error {
	t.doneOnce.Do(func() { close(t.done) })
	return t.Subscriber.Close()
}
