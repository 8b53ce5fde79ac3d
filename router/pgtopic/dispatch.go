package pgtopic

import (
	"context"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// deliveryConfig is how a claim's messages are handed to the handler.
type deliveryConfig struct {
	maxInFlight    int
	resendInterval time.Duration
	ackDeadline    time.Duration
	drainTimeout   time.Duration
}

type eventKind int

const (
	evAcked eventKind = iota
	evNacked
	evResend
)

type event struct {
	i    int
	kind eventKind
}

// dispatch hands rows to out and waits until each is acked. Up to
// maxInFlight messages are out at once; a nacked (or timed-out) message is
// sent again after resendInterval, before any later one when maxInFlight is
// 1. Once closing is closed it sends nothing more, waits up to drainTimeout
// for the messages already out, and returns; once ctx ends it returns at
// once. Messages' contexts derive from msgCtx, which the caller ends on
// Close (Watermill's contract): a handler that must finish its work while
// the subscriber drains detaches from it. acked says which rows were acked;
// stopped whether it returned early.
func dispatch(ctx, msgCtx context.Context, closing <-chan struct{}, out chan<- *message.Message, rows []row,
	cfg deliveryConfig, logger watermill.LoggerAdapter) (acked []bool, stopped bool) {
	acked = make([]bool, len(rows))
	// Every row has at most one event pending at a time (its ack, its nack or
	// its resend), so sends to events never block.
	events := make(chan event, len(rows))
	done := make(chan struct{})
	defer close(done)

	ready := make([]int, len(rows)) // indexes to send, in offset order
	for i := range rows {
		ready[i] = i
	}
	var next *outgoing // ready[0] as a message, built once per send
	defer func() { next.drop() }()
	inFlight, remaining := 0, len(rows)
	var drain <-chan time.Time
	for remaining > 0 {
		if closing == nil && inFlight == 0 {
			return acked, true
		}
		var send chan<- *message.Message
		var msg *message.Message
		if closing != nil && inFlight < cfg.maxInFlight && len(ready) > 0 {
			if next == nil {
				next = newOutgoing(msgCtx, rows[ready[0]])
			}
			send, msg = out, next.msg
		}
		select {
		case send <- msg:
			go watch(next, ready[0], cfg.ackDeadline, events, done, logger)
			ready, next = ready[1:], nil
			inFlight++
		case ev := <-events:
			switch ev.kind {
			case evAcked:
				acked[ev.i] = true
				inFlight--
				remaining--
			case evNacked:
				inFlight--
				if closing != nil {
					i := ev.i
					time.AfterFunc(cfg.resendInterval, func() {
						select {
						case events <- event{i: i, kind: evResend}:
						case <-done:
						}
					})
				}
			case evResend:
				i, _ := slices.BinarySearch(ready, ev.i)
				ready = slices.Insert(ready, i, ev.i)
				next.drop()
				next = nil
			}
		case <-closing:
			closing = nil
			drain = time.After(cfg.drainTimeout)
		case <-drain:
			logger.Info("Stopping with deliveries still running; they will be redelivered", watermill.LogFields{"in_flight": inFlight})
			return acked, true
		case <-ctx.Done():
			return acked, true
		}
	}
	return acked, closing == nil
}

// outgoing is a message about to be handed out. Its context ends with its
// ack or nack (Watermill's contract).
type outgoing struct {
	msg    *message.Message
	cancel context.CancelFunc
}

func newOutgoing(ctx context.Context, r row) *outgoing {
	o := &outgoing{msg: r.message()}
	mctx, cancel := context.WithCancel(ctx)
	o.msg.SetContext(mctx)
	o.cancel = cancel
	return o
}

// drop releases a message that was never handed out.
func (o *outgoing) drop() {
	if o != nil {
		o.cancel()
	}
}

// watch reports msg's ack or nack; no answer within deadline counts as a nack.
func watch(o *outgoing, i int, deadline time.Duration, events chan<- event, done <-chan struct{}, logger watermill.LoggerAdapter) {
	msg := o.msg
	t := time.NewTimer(deadline)
	defer t.Stop()
	defer o.cancel()
	ev := event{i: i}
	select {
	case <-msg.Acked():
		ev.kind = evAcked
	case <-msg.Nacked():
		ev.kind = evNacked
	case <-t.C:
		logger.Error("Message not acked within the ack deadline; sending it again", nil,
			watermill.LogFields{"message_uuid": msg.UUID, "deadline": deadline.String()})
		ev.kind = evNacked
	case <-done:
		return
	}
	select {
	case events <- ev:
	case <-done:
	}
}
