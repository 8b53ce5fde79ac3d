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
	"github.com/tributary-dev/tributary/internal/backoff"
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

// Source is a tributary.Source reading one feed. See the package doc for
// what it guarantees.
type Source struct {
	cfg    Config
	client *Client
	logger watermill.LoggerAdapter

	mu      sync.Mutex
	running bool

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
	return &Source{cfg: cfg, client: c, logger: c.logger}, nil
}

// Client is the source's feed client (for DiscardAll).
func (s *Source) Client() *Client { return s.client }

// Start starts reading the feed and returns at once: one run at a time
// (two would store and complete the same batches independently). Each
// batch is handed on through emit as one group and completed only once emit
// returned (see the package doc). When ctx ends the source stops; a batch
// being stored is not completed then. A feed that does not exist stops the
// source for good: stopped gets a *FeedNotFoundError.
func (s *Source) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("batchfeed: the source of feed %q is already running", s.cfg.FeedID)
	}
	s.running = true
	go func() {
		err := s.run(ctx, emit)
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		stopped(err)
	}()
	return nil
}

// run is the poll loop: fetch, store every notification, complete, repeat.
func (s *Source) run(ctx context.Context, emit tributary.Emit) error {
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
			return nil
		}
		if err != nil {
			var nf *FeedNotFoundError
			if errors.As(err, &nf) {
				// A wrong feed id: retrying cannot help, stop loudly.
				s.fail("feed_not_found")
				s.logger.Error("Feed not found; fix the feed id, this source stops", err, nil)
				return err
			}
			d := max(s.cfg.Backoff.Delay(failures), min(retryAfter(err), s.cfg.Backoff.Max))
			failures++
			s.fail(errorKind(err))
			s.logger.Error("Fetching the next batch failed; retrying", err, watermill.LogFields{"retry_in": d.String(), "failures": failures})
			if !s.wait(ctx, waitBackoff, d) {
				return nil
			}
			continue
		}
		failures = 0
		s.up()
		if b == nil {
			if !s.wait(ctx, waitPoll, s.pollWait()) {
				return nil
			}
			continue
		}
		if !s.store(ctx, emit, b) {
			return nil
		}
		next, probed, ok := s.complete(ctx, b)
		if !ok {
			return nil
		}
		if probed {
			// The probe that showed b gone already fetched what comes next.
			b, err, fetched = next, nil, true
			continue
		}
		if !b.MoreAvailable && !s.wait(ctx, waitPoll, s.pollWait()) {
			return nil
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
	return backoff.Sleep(ctx, d) == nil
}

// pollWait is PollInterval spread by PollJitter, so that many sources
// restarted together do not poll in lockstep.
func (s *Source) pollWait() time.Duration {
	return backoff.Jitter(s.cfg.PollInterval, s.cfg.PollJitter)
}

// store hands the batch's notifications on as one group, in order,
// until it is stored. It reports false if ctx ended first.
func (s *Source) store(ctx context.Context, emit tributary.Emit, b *Batch) bool {
	if len(b.Notifications) == 0 {
		return true
	}
	for attempt := 0; ; attempt++ {
		msgs := make([]*message.Message, len(b.Notifications))
		for i := range b.Notifications {
			msgs[i] = s.message(b, &b.Notifications[i])
			msgs[i].SetContext(ctx)
		}
		err := emit(ctx, msgs...)
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
