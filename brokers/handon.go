package brokers

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// HandOn is the one step every broker subscriber repeats: it hands msg on
// through out (with a context of its own, cancelled on return) and waits for
// the router's ack or nack. ok is false when ctx ends or stop closes first:
// the broker's message is then left unsettled, and the broker redelivers it.
func HandOn(ctx context.Context, stop <-chan struct{}, msg *message.Message, out chan<- *message.Message) (acked, ok bool) {
	msgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg.SetContext(msgCtx)
	select {
	case out <- msg:
	case <-ctx.Done():
		return false, false
	case <-stop:
		return false, false
	}
	select {
	case <-msg.Acked():
		return true, true
	case <-msg.Nacked():
		return false, true
	case <-ctx.Done():
		return false, false
	case <-stop:
		return false, false
	}
}
