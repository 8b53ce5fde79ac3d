package router

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ingestItem is one message to store; key is its dedup key ("" when the
// pipeline does not dedup).
type ingestItem struct {
	msg *message.Message
	key string
}

// errStopping answers ingests that arrive while the router shuts down; the
// source redelivers them after restart.
var errStopping = errors.New("router is stopping")

// maxIngestBatch bounds how many messages share one ingest transaction.
const maxIngestBatch = 500

// flushTimeout bounds one ingest transaction (and its per-message retries).
const flushTimeout = time.Minute

// ingestRequest is one message, or a source's group of messages stored
// together (with Postgres by one statement: all of them commit, or none).
type ingestRequest struct {
	ctx   context.Context
	items []ingestItem
	done  chan ingestResult
}

type ingestResult struct {
	stored []bool
	// quarantined[i], when not "", says why the backend refused item i for
	// good: it is in the ingest quarantine, not stored (nil: none was).
	quarantined []string
	err         error
}

// ingestBatcher is group commit for one pipeline's ingest path: messages that
// arrive while a batch is being stored (from several sources, or a source
// with several in flight) form the next batch, stored as a set — dedup keys
// and topic rows in one statement, one round trip, one commit — so the cost
// is paid once per batch instead of once per message. A lone message is not
// held back: a batch is whatever is waiting when the previous one ends. Each
// message is acked only after the commit that stored it (or found it a
// duplicate). A batch that fails is retried request by request, so one bad
// message fails alone (or with the rest of its source's group: a group is
// one request, stored by one statement, so it is never half stored). A
// request refused for the content of its messages (classifyUnstorable) is
// stored message by message (Backend.ingestEach): what the backend refuses
// for good goes to the ingest quarantine, and the request succeeds.
type ingestBatcher struct {
	backend  Backend
	target   ingestTarget
	requests chan ingestRequest
	stopped  chan struct{}
}

// ingestTarget says where a pipeline's batches go.
type ingestTarget struct {
	topic, pipeline string
	ttl             time.Duration
}

func newIngestBatcher(b Backend, target ingestTarget) *ingestBatcher {
	return &ingestBatcher{backend: b, target: target, requests: make(chan ingestRequest), stopped: make(chan struct{})}
}

// ingestGroup stores a group of messages in one statement, in their order,
// and returns once it is committed (or failed: see tributary.Emit for
// what a failed group left stored).
// stored[i] is false for a duplicate (of a stored event, or of an earlier
// item of the group) or for an item set aside in the ingest quarantine
// (quarantined[i] says why).
func (b *ingestBatcher) ingestGroup(ctx context.Context, items []ingestItem) (stored []bool, quarantined []string, err error) {
	req := ingestRequest{ctx: ctx, items: items, done: make(chan ingestResult, 1)}
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-b.stopped:
		return nil, nil, errStopping
	}
	res := <-req.done // always answered: run finishes a batch it has taken
	if res.err == nil && res.quarantined == nil {
		res.quarantined = make([]string, len(items))
	}
	return res.stored, res.quarantined, res.err
}

// run serves requests until ctx ends.
func (b *ingestBatcher) run(ctx context.Context) {
	defer close(b.stopped)
	for {
		var batch []ingestRequest
		n := 0
		select {
		case req := <-b.requests:
			batch, n = append(batch, req), len(req.items)
		case <-ctx.Done():
			return
		}
	collect:
		for n < maxIngestBatch {
			select {
			case req := <-b.requests:
				batch, n = append(batch, req), n+len(req.items)
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

// flush stores a batch as one set. If that fails, each message is retried
// on its own, so one bad message fails alone.
func (b *ingestBatcher) flush(ctx context.Context, batch []ingestRequest) {
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- ingestResult{err: err}
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	items := live[0].items
	if len(live) > 1 {
		items = nil
		for _, req := range live {
			items = append(items, req.items...)
		}
	}
	stored, err := b.backend.ingest(ctx, b.target, items)
	if err == nil {
		for _, req := range live {
			req.done <- ingestResult{stored: stored[:len(req.items):len(req.items)]}
			stored = stored[len(req.items):]
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- b.afterFailure(ctx, live[0].items, err)
		return
	}
	for _, req := range live {
		stored, err := b.backend.ingest(ctx, b.target, req.items)
		if err != nil {
			req.done <- b.afterFailure(ctx, req.items, err)
			continue
		}
		req.done <- ingestResult{stored: stored}
	}
}

// afterFailure answers a request whose ingest failed with err: a refusal
// of the items' content has them stored one by one, the refused ones
// quarantined; any other error fails the request.
func (b *ingestBatcher) afterFailure(ctx context.Context, items []ingestItem, err error) ingestResult {
	if !isUnstorable(err) {
		return ingestResult{err: err}
	}
	stored, quarantined, err := b.backend.ingestEach(ctx, b.target, items)
	return ingestResult{stored: stored, quarantined: quarantined, err: err}
}

// firstOfKey marks the items that carry their dedup key for the first time
// in the batch (or have none): only those can be stored; a later item with
// the same key is a duplicate of the first, stored by the same commit.
func firstOfKey(items []ingestItem) []bool {
	first := make([]bool, len(items))
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		if it.key == "" || !seen[it.key] {
			first[i] = true
			if it.key != "" {
				seen[it.key] = true
			}
		}
	}
	return first
}
