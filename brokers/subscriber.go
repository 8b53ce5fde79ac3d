package brokers

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriptions is what the broker packages' own subscribers (amqp's,
// natsjs's) share: each subscription hands the broker's messages on one at
// a time (Forward), and Close ends them all, waits for them, then closes
// the connection.
type Subscriptions struct {
	kind      string
	logger    watermill.LoggerAdapter
	closeConn func() error

	closing  chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	closeErr error
}

// NewSubscriptions returns the Subscriptions of a subscriber of kind (its
// name in logs) on one connection, which closeConn closes.
func NewSubscriptions(kind string, logger watermill.LoggerAdapter, closeConn func() error) *Subscriptions {
	return &Subscriptions{kind: kind, logger: logger, closeConn: closeConn, closing: make(chan struct{})}
}

// Closed is the error of a Subscribe after Close, nil before.
func (s *Subscriptions) Closed() error {
	select {
	case <-s.closing:
		return errors.New("subscriber closed")
	default:
		return nil
	}
}

// Forward runs one subscription and returns its output: each message of in,
// as msg makes it, is handed on through a channel that Forward alone closes,
// and settled with the router's answer (acked, or nacked). A settlement not
// sent is logged: the broker redelivers that message, and the router's
// dedup drops the repeat. It ends when in is closed, ctx ends or Close is
// called; a message handed on and not yet acked is then left unsettled, and
// the broker redelivers it. done, if set, runs once it has ended.
func Forward[T any](s *Subscriptions, ctx context.Context, in <-chan T, msg func(T) *message.Message, settle func(m T, acked bool) error, done func()) <-chan *message.Message {
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		if done != nil {
			defer done()
		}
		for {
			var m T
			select {
			case next, ok := <-in:
				if !ok {
					return
				}
				m = next
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
			handed := msg(m)
			msgCtx, cancel := context.WithCancel(ctx)
			handed.SetContext(msgCtx)
			acked, ok := handOn(ctx, s.closing, s.closing, handed, out)
			cancel()
			if !ok {
				return
			}
			if err := settle(m, acked); err != nil {
				s.logger.Info(s.kind+" ack or nack not sent; the broker will redeliver", watermill.LogFields{"error": err.Error()})
			}
		}
	}()
	return out
}

// handOn hands msg on through out and waits for the router's ack or nack.
// ok is false when ctx ends, stop closes before msg is handed on, or
// waitStop closes before the answer.
func handOn(ctx context.Context, stop, waitStop <-chan struct{}, msg *message.Message, out chan<- *message.Message) (acked, ok bool) {
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
	case <-waitStop:
		return false, false
	}
}

// Close ends every subscription, waits for them, and closes the
// connection; it is idempotent.
func (s *Subscriptions) Close() error {
	s.once.Do(func() {
		close(s.closing)
		s.wg.Wait()
		s.closeErr = s.closeConn()
	})
	return s.closeErr
}
