package middleware

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// DedupStore records event keys. Record reports whether key was already
// recorded (and not expired) for the pipeline; otherwise it records it with
// the TTL. It writes in the transaction carried by ctx, if any: the key must
// commit together with the publish of the event, never before it.
type DedupStore interface {
	Record(ctx context.Context, pipeline, key string, ttl time.Duration) (duplicate bool, err error)
}

// Dedup drops messages whose stable event id was seen within TTL. A duplicate
// is acked (the handler below is not run) and reported to OnDuplicate.
type Dedup struct {
	Store    DedupStore
	Pipeline string
	TTL      time.Duration
	// Key returns the dedup key of msg; tributary.EventID when nil.
	Key func(msg *message.Message) string
	// OnDuplicate, if set, is called for each duplicate dropped.
	OnDuplicate func(msg *message.Message)
}

// Middleware implements message.HandlerMiddleware.
func (d Dedup) Middleware(h message.HandlerFunc) message.HandlerFunc {
	key := d.Key
	if key == nil {
		key = tributary.EventID
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		dup, err := d.Store.Record(msg.Context(), d.Pipeline, key(msg), d.TTL)
		if err != nil {
			return nil, err
		}
		if dup {
			if d.OnDuplicate != nil {
				d.OnDuplicate(msg)
			}
			return nil, nil
		}
		return h(msg)
	}
}
