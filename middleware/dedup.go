package middleware

import (
	"context"
	"time"
)

// DedupStore records event keys. Record reports whether key was already
// recorded (and not expired) for the pipeline; otherwise it records it with
// the TTL. It writes in the transaction carried by ctx, if any: the key must
// commit together with the publish of the event, never before it.
type DedupStore interface {
	Record(ctx context.Context, pipeline, key string, ttl time.Duration) (duplicate bool, err error)
}
