package batchfeed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// Metadata keys a Source sets besides tributary.MetaEventID (the notification
// id) and tributary.MetaEventType (its eventType). They are the protocol's
// own field names; the message payload is the notification object as
// received.
const (
	MetaEventType     = "eventType"
	MetaWhen          = "when"
	MetaTenantID      = "tenantId"
	MetaCausationID   = "causationId"
	MetaCorrelationID = "correlationId"
	MetaRelativeURL   = "relativeUrl"
	MetaBatchID       = "batchId"
	MetaFeedID        = "feedId"
)

// Source is a message.Subscriber reading one feed. See the package doc for
// what it guarantees.
type Source struct {
	cfg    Config
	client *Client
	logger watermill.LoggerAdapter

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu         sync.Mutex
	subscribed bool
	err        error

	waitHook func(ctx context.Context, why string, d time.Duration) bool // tests only
}

// NewSource returns a Source for cfg.FeedID.
func NewSource(cfg Config, logger watermill.LoggerAdapter) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := newClient(cfg, logger)
	if suggestFeed(cfg.FeedID) == "" {
		c.logger.Info("Feed id is not one of the documented feeds; a 404 will stop the source", watermill.LogFields{"known": KnownFeeds})
	}
	return &Source{cfg: cfg, client: c, logger: c.logger, closing: make(chan struct{})}, nil
}

// Client is the source's feed client (for DiscardAll).
func (s *Source) Client() *Client { return s.client }

// Err is the error that stopped the source for good (a *FeedNotFoundError),
// nil while it runs or after a normal close.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Subscribe starts reading the feed. The topic is ignored: a Source reads its
// one feed, and only one Subscribe may run at a time (two would store and
// complete the same batches independently).
func (s *Source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	store := func(ctx context.Context, b *Batch) bool { return s.store(ctx, out, b) }
	if err := s.subscribe(ctx, store, func() { close(out) }); err != nil {
		return nil, err
	}
	return out, nil
}

// SubscribeBatchFunc is Subscribe for a router that stores a group of
// events in one statement (router.BatchFuncSubscriber): each batch is
// handed on as one group, in its order; handle returns nil once the group
// is stored, and only then is the batch completed. A group that fails is
// handed on again whole after a backoff. It returns at once; Close stops it.
func (s *Source) SubscribeBatchFunc(ctx context.Context, _ string, handle func(context.Context, []*message.Message) error) error {
	return s.subscribe(ctx, func(ctx context.Context, b *Batch) bool { return s.storeGroup(ctx, handle, b) }, nil)
}

// subscribe starts the poll loop, which stores each batch with store;
// closed (if set) runs when the loop ends.
func (s *Source) subscribe(ctx context.Context, store func(context.Context, *Batch) bool, closed func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return errors.New("batchfeed: source closed")
	default:
	}
	if s.subscribed {
		return fmt.Errorf("batchfeed: the source of feed %q is already subscribed", s.cfg.FeedID)
	}
	s.subscribed = true
	ctx, cancel := context.WithCancel(ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer s.wg.Done()
		defer cancel()
		if closed != nil {
			defer closed()
		}
		s.run(ctx, store)
	}()
	return nil
}

// Close stops the source and waits for it; its channel is closed. A batch
// being stored is not completed: it comes back after restart.
func (s *Source) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

// run is the poll loop: fetch, store every notification, complete, repeat.
func (s *Source) run(ctx context.Context, store func(context.Context, *Batch) bool) {
	s.logger.Info("Polling feed", nil)
	var (
		b        *Batch
		err      error
		fetched  bool // b (or its absence) came from complete's probe
		failures int
	)
	for {
		if !fetched {
			b, err = s.client.Next(ctx)
		}
		fetched = false
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var nf *FeedNotFoundError
			if errors.As(err, &nf) {
				// A wrong feed id: retrying cannot help, stop loudly.
				s.fail("feed_not_found")
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				s.logger.Error("Feed not found; fix the feed id, this source stops", err, nil)
				return
			}
			d := max(s.cfg.Backoff.Delay(failures), min(retryAfter(err), s.cfg.Backoff.Max))
			failures++
			s.fail(errorKind(err))
			s.logger.Error("Fetching the next batch failed; retrying", err, watermill.LogFields{"retry_in": d.String(), "failures": failures})
			if !s.wait(ctx, waitBackoff, d) {
				return
			}
			continue
		}
		failures = 0
		s.up()
		if b == nil {
			if !s.wait(ctx, waitPoll, jitter(s.cfg.PollInterval, s.cfg.PollJitter)) {
				return
			}
			continue
		}
		if !store(ctx, b) {
			return
		}
		next, probed, ok := s.complete(ctx, b)
		if !ok {
			return
		}
		if probed {
			// The probe that showed b gone already fetched what comes next.
			b, err, fetched = next, nil, true
			continue
		}
		if !b.MoreAvailable && !s.wait(ctx, waitPoll, jitter(s.cfg.PollInterval, s.cfg.PollJitter)) {
			return
		}
	}
}

// Reasons to wait, for tests that record the waits.
const (
	waitBackoff   = "backoff"   // next failed
	waitPoll      = "poll"      // empty feed, or no moreAvailable
	waitRedeliver = "redeliver" // a notification was nacked
	waitComplete  = "complete"  // complete failed
)

// wait sleeps d (or until ctx ends) and reports whether d passed. Tests
// replace it to record the waits instead of taking them.
func (s *Source) wait(ctx context.Context, why string, d time.Duration) bool {
	if s.waitHook != nil {
		return s.waitHook(ctx, why, d)
	}
	return sleep(ctx, d)
}

// store hands on the batch's notifications one at a time, in order, each
// until it is acked. It reports false if ctx ended first.
func (s *Source) store(ctx context.Context, out chan<- *message.Message, b *Batch) bool {
	if s.cfg.Unordered {
		return s.storeUnordered(ctx, out, b)
	}
	for i := range b.Notifications {
		for attempt := 0; ; attempt++ {
			msg := s.message(b, &b.Notifications[i])
			msg.SetContext(ctx)
			select {
			case out <- msg:
			case <-ctx.Done():
				return false
			}
			select {
			case <-msg.Acked():
			case <-msg.Nacked():
				s.client.metrics.Load().nacks.Inc()
				d := s.cfg.Backoff.Delay(attempt)
				s.logger.Info("Notification not stored; redelivering", watermill.LogFields{
					"batch_id": b.ID, "event_id": b.Notifications[i].ID, "retry_in": d.String(),
				})
				if !s.wait(ctx, waitRedeliver, d) {
					return false
				}
				continue
			case <-ctx.Done():
				return false
			}
			break
		}
		s.client.metrics.Load().notificationsStored.Inc()
	}
	return true
}

// storeGroup hands the batch's notifications on as one group, in order,
// until it is stored. It reports false if ctx ended first.
func (s *Source) storeGroup(ctx context.Context, handle func(context.Context, []*message.Message) error, b *Batch) bool {
	if len(b.Notifications) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		msgs := make([]*message.Message, len(b.Notifications))
		for i := range b.Notifications {
			msgs[i] = s.message(b, &b.Notifications[i])
			msgs[i].SetContext(ctx)
		}
		err := handle(ctx, msgs)
		if err == nil {
			s.client.metrics.Load().notificationsStored.Add(float64(len(msgs)))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.client.metrics.Load().nacks.Add(float64(len(msgs)))
		d := s.cfg.Backoff.Delay(attempt)
		s.logger.Info("Batch not stored; handing it on again", watermill.LogFields{
			"batch_id": b.ID, "count": len(msgs), "retry_in": d.String(),
		})
		if !s.wait(ctx, waitRedeliver, d) {
			return false
		}
	}
}

// storeUnordered hands on every notification not yet acked, waits for all
// the answers, and goes round again (after a backoff) for the nacked ones.
func (s *Source) storeUnordered(ctx context.Context, out chan<- *message.Message, b *Batch) bool {
	pending := make([]int, len(b.Notifications))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		msgs := make([]*message.Message, len(pending))
		for k, i := range pending {
			msgs[k] = s.message(b, &b.Notifications[i])
			msgs[k].SetContext(ctx)
			select {
			case out <- msgs[k]:
			case <-ctx.Done():
				return false
			}
		}
		var nacked []int
		for k, m := range msgs {
			select {
			case <-m.Acked():
				s.client.metrics.Load().notificationsStored.Inc()
			case <-m.Nacked():
				s.client.metrics.Load().nacks.Inc()
				nacked = append(nacked, pending[k])
			case <-ctx.Done():
				return false
			}
		}
		if pending = nacked; len(pending) > 0 {
			d := s.cfg.Backoff.Delay(attempt)
			s.logger.Info("Notifications not stored; redelivering", watermill.LogFields{
				"batch_id": b.ID, "count": len(pending), "retry_in": d.String(),
			})
			if !s.wait(ctx, waitRedeliver, d) {
				return false
			}
		}
	}
	return true
}

// complete marks a fully stored batch done, retrying until the feed says
// 200, or shows the batch gone: a 404, or (when a complete failed otherwise)
// a probing next that serves another batch or none — the feed hands out the
// same batch until it is completed, so a different one means ours was
// (by a complete whose answer was lost). The probe's batch is returned for
// the loop to store, never completed here unread. ok is false only if ctx
// ended first; the batch then comes back after restart and dedup drops its
// repeats.
func (s *Source) complete(ctx context.Context, b *Batch) (next *Batch, probed, ok bool) {
	for attempt := 0; ; attempt++ {
		err := s.client.Complete(ctx, b.ID)
		if ctx.Err() != nil {
			return nil, false, false
		}
		switch {
		case err == nil:
			s.client.metrics.Load().batchesCompleted.Inc()
			s.up()
			return nil, false, true
		case errors.Is(err, ErrBatchNotFound):
			// Next served this batch from this very feed id, so the 404 means
			// the batch is gone. Every event of it is stored; move on.
			s.client.metrics.Load().completeGone.Inc()
			s.logger.Info("Batch already completed", watermill.LogFields{"batch_id": b.ID, "attempt": attempt + 1})
			return nil, false, true
		}
		s.client.metrics.Load().completeRetries.Inc()
		s.fail("complete_" + errorKind(err))
		s.logger.Error("Completing the batch failed (its events are stored)", err, watermill.LogFields{
			"batch_id": b.ID, "attempt": attempt + 1,
		})
		if cur, perr := s.client.Next(ctx); perr == nil && (cur == nil || cur.ID != b.ID) {
			s.client.metrics.Load().completeGone.Inc()
			s.logger.Info("Batch no longer served by the feed: an earlier complete took effect", watermill.LogFields{"batch_id": b.ID})
			return cur, true, true
		}
		if ctx.Err() != nil {
			return nil, false, false
		}
		d := max(s.cfg.Backoff.Delay(attempt), min(retryAfter(err), s.cfg.Backoff.Max))
		s.logger.Info("Retrying complete", watermill.LogFields{"batch_id": b.ID, "retry_in": d.String()})
		if !s.wait(ctx, waitComplete, d) {
			return nil, false, false
		}
	}
}

// message builds the message for n: its id is the stable event id, so a
// batch read again after a crash dedups.
func (s *Source) message(b *Batch, n *Notification) *message.Message {
	msg := tributary.NewEventMessage(n.ID, n.Raw)
	md := msg.Metadata
	md.Set(tributary.MetaEventType, n.EventType)
	md.Set(MetaEventType, n.EventType)
	md.Set(MetaWhen, n.When)
	md.Set(MetaTenantID, n.TenantID)
	md.Set(MetaCausationID, n.CausationID)
	md.Set(MetaCorrelationID, n.CorrelationID)
	md.Set(MetaRelativeURL, n.RelativeURL)
	md.Set(MetaBatchID, b.ID)
	md.Set(MetaFeedID, s.cfg.FeedID)
	return msg
}

func (s *Source) fail(kind string) {
	m := s.client.metrics.Load()
	m.Error(kind)
	m.Up.Set(0)
}

func (s *Source) up() {
	m := s.client.metrics.Load()
	m.Up.Set(1)
	m.LastSuccess.Set(float64(time.Now().Unix()))
}
