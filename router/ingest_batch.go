package router

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ingestFunc stores one message inside a unit of work (dedup and publish).
type ingestFunc func(ctx context.Context, pub message.Publisher) error

// errStopping answers ingests that arrive while the router shuts down; the
// source redelivers them after restart.
var errStopping = errors.New("router is stopping")

// maxIngestBatch bounds how many messages share one ingest transaction.
const maxIngestBatch = 100

// flushTimeout bounds one ingest transaction (and its per-message retries).
const flushTimeout = time.Minute

type ingestRequest struct {
	ctx  context.Context
	fn   ingestFunc
	done chan error
}

// ingestBatcher is group commit for one pipeline's ingest path: messages that
// arrive while a transaction is being committed (from several sources, or a
// source with several messages in flight) share the next transaction, so the
// commit — the dominant cost — is paid once per batch instead of once per
// message. A lone message is not held back: a batch is whatever is waiting
// when the previous commit ends. Each message is still acked only after the
// commit that stored it.
type ingestBatcher struct {
	backend Backend
	topic   string
	// atomic: the backend rolls a failed unit back, so a batch can be retried
	// message by message. Only then are messages batched.
	atomic   bool
	requests chan ingestRequest
	stopped  chan struct{}
}

func newIngestBatcher(b Backend, topic string) *ingestBatcher {
	_, atomic := b.(*PostgresBackend)
	return &ingestBatcher{backend: b, topic: topic, atomic: atomic, requests: make(chan ingestRequest), stopped: make(chan struct{})}
}

// ingest stores one message and returns once it is committed (or failed).
func (b *ingestBatcher) ingest(ctx context.Context, fn ingestFunc) error {
	req := ingestRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stopped:
		return errStopping
	}
	return <-req.done // always answered: run finishes a batch it has taken
}

// run serves requests until ctx ends.
func (b *ingestBatcher) run(ctx context.Context) {
	defer close(b.stopped)
	for {
		var batch []ingestRequest
		select {
		case req := <-b.requests:
			batch = append(batch, req)
		case <-ctx.Done():
			return
		}
	collect:
		for len(batch) < maxIngestBatch {
			select {
			case req := <-b.requests:
				batch = append(batch, req)
			default:
				break collect
			}
		}
		// A taken batch is always finished, even while the router stops, but
		// never waits forever on an unreachable database: the messages fail,
		// and their sources redeliver them.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		b.flush(fctx, batch)
		cancel()
	}
}

// flush stores a batch in one transaction. If that fails, each message is
// retried in a transaction of its own, so one bad message fails alone.
func (b *ingestBatcher) flush(ctx context.Context, batch []ingestRequest) {
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- err
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 && b.atomic {
		fns := make([]ingestFunc, len(live))
		for i, req := range live {
			fns[i] = req.fn
		}
		if err := b.backend.ingest(ctx, b.topic, fns...); err == nil {
			for _, req := range live {
				req.done <- nil
			}
			return
		}
	}
	for _, req := range live {
		req.done <- b.backend.ingest(ctx, b.topic, req.fn)
	}
}
