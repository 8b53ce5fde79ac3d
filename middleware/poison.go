package middleware

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/store"
)

// PoisonRecord is a message that will not be delivered without help: its
// schedule ran out, or its error was permanent: a row of tributary_poison.
type PoisonRecord = store.Poison

// PoisonStore keeps poisoned messages. Add commits before the message is
// acked, so a crash in between redelivers the message rather than losing it.
type PoisonStore interface {
	Add(ctx context.Context, rec PoisonRecord) error
}

// Poison catches what Requeue and Retry give up on — permanent errors and
// exhausted schedules — and stores the message with its reason, attempt count,
// failure times and the sink it failed on; then it acks the message. Any other
// error is returned, so the message is nacked and redelivered.
type Poison struct {
	Store    PoisonStore
	Pipeline string
	Sink     string
	// OnPoison, if set, is called for each poisoned message.
	OnPoison func(rec PoisonRecord)
}

// Middleware implements message.HandlerMiddleware.
func (p Poison) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || !IsPermanent(err) {
			return out, err
		}
		t := time.Now().UTC()
		if !errors.Is(err, ErrExhausted) {
			// A permanent error skips Requeue, which would have stamped it.
			stamp(msg, Attempts(msg)+1, t, err)
		}
		first, perr := time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetaFirstFailure))
		if perr != nil {
			first = t
		}
		rec := PoisonRecord{
			Pipeline:     p.Pipeline,
			Sink:         p.Sink,
			MessageUUID:  msg.UUID,
			EventID:      tributary.EventID(msg),
			Payload:      msg.Payload,
			Metadata:     msg.Metadata,
			Reason:       err.Error(),
			Attempts:     Attempts(msg),
			FirstFailure: first,
			LastFailure:  t,
			PoisonedAt:   t,
		}
		if serr := p.Store.Add(msg.Context(), rec); serr != nil {
			return nil, errors.Join(err, serr)
		}
		if p.OnPoison != nil {
			p.OnPoison(rec)
		}
		return nil, nil
	}
}
