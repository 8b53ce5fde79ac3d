// Package tributarytest helps test a tributary.Source outside a router: Start
// runs it with an Emit whose messages a test reads from a channel and acks
// or nacks, as if it were the pipeline storing them.
package tributarytest

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// Run is a started source. Messages is every emitted message, one at a time
// in emit order, and is closed once the source stopped; a group counts as stored once every message of it was
// acked, and fails (Emit returns an error) at its first nack.
type Run struct {
	Messages <-chan *message.Message
	cancel   context.CancelFunc
	done     chan struct{}
	reason   error
}

// ErrNacked is what Emit returns for a group with a nacked message.
var ErrNacked = errors.New("tributarytest: a message of the group was nacked")

// Start starts src on ctx. Stop (or the end of ctx) stops it.
func Start(ctx context.Context, src tributary.Source) (*Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *message.Message)
	r := &Run{Messages: out, cancel: cancel, done: make(chan struct{})}
	var mu sync.Mutex // one group at a time on the channel keeps each group's order
	closed := false
	emit := func(ectx context.Context, msgs ...*message.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return errors.New("tributarytest: Emit called after the source stopped")
		}
		for _, m := range msgs {
			select {
			case out <- m:
			case <-ctx.Done():
				return context.Canceled
			}
			select {
			case <-m.Acked():
			case <-m.Nacked():
				return ErrNacked
			case <-ctx.Done():
				return context.Canceled
			}
		}
		return nil
	}
	var once sync.Once
	err := src.Start(ctx, emit, func(err error) {
		once.Do(func() {
			mu.Lock()
			closed = true
			close(out) // Messages ends: the source hands nothing on any more
			mu.Unlock()
			r.reason = err
			close(r.done)
		})
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return r, nil
}

// Stop stops the source and waits until it called stopped; once stopping,
// Emit refuses what the source still hands on (the test stops reading). It returns the reason the source gave.
func (r *Run) Stop() error {
	r.cancel()
	<-r.done
	return r.reason
}

// Subscribe is Start for a test that only reads: the source stops when ctx
// ends, and the channel closes once it stopped.
func Subscribe(ctx context.Context, src tributary.Source) (<-chan *message.Message, error) {
	r, err := Start(ctx, src)
	if err != nil {
		return nil, err
	}
	return r.Messages, nil
}
