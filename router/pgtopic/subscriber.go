package pgtopic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// ConsumerGroup names the group; every group receives every message of a
	// topic, and the Subscribers of one group share them. Required.
	ConsumerGroup string
	// BatchSize is how many messages one claim takes; 100 when zero. It
	// bounds what a crash repeats.
	BatchSize int
	// MaxInFlight is how many messages are handed out before the first is
	// acked; 1 (in order) when zero.
	MaxInFlight int
	// Shared lets the Subscribers of the group (on several instances) hold
	// claims at the same time, each delivering a share of the topic. By
	// default a group holds one claim at a time, so that its messages are
	// handled in offset order whichever Subscriber takes the next claim.
	Shared bool
	// PollInterval is how often an idle Subscriber looks for messages: 1 s
	// with a Notifier (which wakes it at once), 100 ms without.
	PollInterval time.Duration
	// ClaimTTL is how long a claim outlives its owner's last heartbeat: how
	// long a crashed instance's messages wait before another takes them;
	// 30 s when zero.
	ClaimTTL time.Duration
	// ResendInterval is the wait before a nacked message is sent again; 500 ms when zero.
	ResendInterval time.Duration
	// AckDeadline is how long a handed-out message may go unacked before it
	// is sent again; 5 min when zero.
	AckDeadline time.Duration
	// DrainTimeout is how long Close waits for messages already handed out
	// to be acked before it hands the rest back; 30 s when zero.
	DrainTimeout time.Duration
	// Notifier, if set, wakes the Subscriber when a message is published.
	Notifier *Notifier
	// Owner identifies this Subscriber's claims; random when empty.
	Owner string
}

func (c *SubscriberConfig) setDefaults() {
	c.BatchSize = cmp.Or(c.BatchSize, 100)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 1)
	if c.Notifier != nil {
		c.PollInterval = cmp.Or(c.PollInterval, time.Second)
	}
	c.PollInterval = cmp.Or(c.PollInterval, 100*time.Millisecond)
	c.ClaimTTL = cmp.Or(c.ClaimTTL, 30*time.Second)
	c.ResendInterval = cmp.Or(c.ResendInterval, 500*time.Millisecond)
	c.AckDeadline = cmp.Or(c.AckDeadline, 5*time.Minute)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 30*time.Second)
	c.Owner = cmp.Or(c.Owner, newOwner())
}

// Validate reports what is wrong with c.
func (c SubscriberConfig) Validate() error {
	var errs []error
	if c.BatchSize < 0 || c.MaxInFlight < 0 {
		errs = append(errs, errors.New("pgtopic: BatchSize and MaxInFlight must not be negative"))
	}
	if c.PollInterval < 0 || c.ClaimTTL < 0 || c.ResendInterval < 0 || c.AckDeadline < 0 || c.DrainTimeout < 0 {
		errs = append(errs, errors.New("pgtopic: durations must not be negative"))
	}
	if c.ClaimTTL > 0 && c.ClaimTTL < time.Second {
		errs = append(errs, errors.New("pgtopic: ClaimTTL must be at least 1s"))
	}
	return errors.Join(errs...)
}

func (c SubscriberConfig) delivery() deliveryConfig {
	return deliveryConfig{maxInFlight: c.MaxInFlight, resendInterval: c.ResendInterval,
		ackDeadline: c.AckDeadline, drainTimeout: c.DrainTimeout}
}

// Subscriber reads topics as a consumer group (see the package doc).
type Subscriber struct {
	*consumer
}

// NewSubscriber returns a Subscriber reading as cfg.ConsumerGroup.
func NewSubscriber(db DB, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if cfg.ConsumerGroup == "" {
		return nil, errors.New("pgtopic: SubscriberConfig.ConsumerGroup is required")
	}
	c, err := newConsumer(db, cfg, logger)
	if err != nil {
		return nil, err
	}
	return &Subscriber{c}, nil
}

// Subscribe implements message.Subscriber. The channel closes after Close
// (once what was in flight is acked or handed back) or when ctx ends.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.subscribe(ctx, topic, s.consume)
}

// SubscribeInitialize implements message.SubscribeInitializer: it creates
// the consumer group's position, so messages published from now on are kept
// for it.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	return s.ensureGroup(context.Background(), topic)
}

func (s *Subscriber) ensureGroup(ctx context.Context, topic string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO tributary_consumers (topic, consumer_group) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, topic, s.cfg.ConsumerGroup)
	if err != nil {
		return fmt.Errorf("pgtopic: consumer group %q of %q: %w", s.cfg.ConsumerGroup, topic, err)
	}
	return nil
}

func (s *Subscriber) consume(ctx context.Context, topic string, out chan<- *message.Message) {
	logFields := watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup}
	wake, stopWake := s.listen(topic)
	defer stopWake()
	retry := newRetryWait(s.cfg.PollInterval)
	msgCtx, endMessages := closingContext(ctx, s.closing)
	defer endMessages()
	for err := s.ensureGroup(ctx, topic); err != nil; err = s.ensureGroup(ctx, topic) {
		if !s.failed(ctx, retry, "Creating consumer group", err, logFields) {
			return
		}
	}
	var finished int64 // a completed claim, deleted with the next claim
	for {
		if s.stopping(ctx) {
			s.finish(topic, finished)
			return
		}
		c, err := s.claim(ctx, topic, finished)
		if err != nil {
			if !s.failed(ctx, retry, "Claiming messages", err, logFields) {
				s.finish(topic, finished)
				return
			}
			continue
		}
		retry.reset()
		finished = 0
		if c == nil {
			if !sleep(ctx, s.closing, wake, s.cfg.PollInterval) {
				return
			}
			continue
		}
		acked, stopped := dispatch(ctx, msgCtx, s.closing, out, c.rows, s.cfg.delivery(), s.logger)
		if !stopped {
			finished = c.id
			continue
		}
		s.handBack(topic, c, acked)
		return
	}
}

type claim struct {
	id   int64
	rows []row
}

// claim deletes the finished claim (if any) and takes the next: a claim
// handed back or left by a dead owner first, else the next BatchSize
// messages past the group's position. It returns nil when there is nothing.
//
// It is one round trip: the statements go as one batch, which Postgres runs
// as one implicit transaction, each statement on a fresh snapshot (READ
// COMMITTED) that sees what the ones before it did. The group's position row
// is the group's lock, taken first. Only taking over an expired claim reads
// its messages in a second round trip. It commits without waiting for the
// disk (relaxCommit): a crash that loses it delivers those messages again.
func (s *Subscriber) claim(ctx context.Context, topic string, finished int64) (*claim, error) {
	b := &pgx.Batch{}
	b.Queue(relaxCommit)
	if finished != 0 {
		b.Queue(`DELETE FROM tributary_claims WHERE id = $1 AND owner = $2`, finished, s.cfg.Owner)
	}
	b.Queue(`SELECT position FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2 FOR UPDATE`,
		topic, s.cfg.ConsumerGroup)
	expired := &claim{}
	var expiredOffsets []int64
	b.Queue(takeExpired, topic, s.cfg.ConsumerGroup, s.cfg.Owner, s.cfg.ClaimTTL.Seconds(), s.cfg.Shared).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(&expired.id, &expiredOffsets)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	next := &claim{}
	b.Queue(takeNext, topic, s.cfg.ConsumerGroup, s.cfg.Owner, s.cfg.BatchSize, s.cfg.ClaimTTL.Seconds(), s.cfg.Shared).
		Query(func(rows pgx.Rows) error {
			var r row
			scans := []any{&next.id, &r.key, &r.uuid, &r.payload, metadataScanner{&r.metadata}}
			_, err := pgx.ForEachRow(rows, scans, func() error {
				next.rows = append(next.rows, r)
				return nil
			})
			return err
		})
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if expired.id != 0 {
		return s.readExpired(ctx, topic, expired, expiredOffsets)
	}
	if len(next.rows) == 0 {
		return nil, nil
	}
	return next, nil
}

// takeExpired takes over a claim handed back or left by a dead owner; by
// default only while the group has no live claim (one at a time).
const takeExpired = `
	UPDATE tributary_claims SET owner = $3, expires_at = now() + make_interval(secs => $4)
	WHERE id = (SELECT id FROM tributary_claims WHERE topic = $1 AND consumer_group = $2 AND expires_at < now()
		AND ($5 OR NOT EXISTS (SELECT 1 FROM tributary_claims WHERE topic = $1 AND consumer_group = $2 AND expires_at >= now()))
		ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING id, offsets`

// takeNext claims the next BatchSize messages past the group's position
// (read under the group's lock) and moves the position past them, unless
// the statement before took an expired claim (this Subscriber holds a live
// one) or, by default, the group has a live claim at all.
const takeNext = `
	WITH pick AS MATERIALIZED (
		SELECT "offset", uuid, payload, metadata FROM tributary_messages
		WHERE topic = $1
			AND "offset" > (SELECT position FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2)
			AND NOT EXISTS (SELECT 1 FROM tributary_claims WHERE topic = $1 AND consumer_group = $2
				AND expires_at >= now() AND (NOT $6 OR owner = $3))
		ORDER BY "offset" LIMIT $4),
	moved AS (
		UPDATE tributary_consumers SET position = (SELECT max("offset") FROM pick)
		WHERE topic = $1 AND consumer_group = $2 AND EXISTS (SELECT 1 FROM pick)),
	ins AS (
		INSERT INTO tributary_claims (topic, consumer_group, offsets, owner, expires_at)
		SELECT $1, $2, array_agg("offset" ORDER BY "offset"), $3, now() + make_interval(secs => $5)
		FROM pick HAVING count(*) > 0
		RETURNING id)
	SELECT (SELECT id FROM ins), "offset", uuid, payload, metadata FROM pick ORDER BY "offset"`

// readExpired reads the messages of a claim taken over; one pruned
// meanwhile has nothing left to deliver and is deleted.
func (s *Subscriber) readExpired(ctx context.Context, topic string, c *claim, offsets []int64) (*claim, error) {
	rows, err := s.db.Query(ctx, `SELECT "offset", uuid, payload, metadata FROM tributary_messages
		WHERE topic = $1 AND "offset" = ANY($2) ORDER BY "offset"`, topic, offsets)
	if err != nil {
		return nil, err
	}
	if c.rows, err = pgx.CollectRows(rows, scanRow); err != nil {
		return nil, err
	}
	if len(c.rows) == 0 {
		_, err := execRelaxed(ctx, s.db, `DELETE FROM tributary_claims WHERE id = $1 AND owner = $2`, c.id, s.cfg.Owner)
		return nil, err
	}
	return c, nil
}

// stopTimeout bounds the writes of a stopping Subscriber.
const stopTimeout = 10 * time.Second

// finish deletes a completed claim on the way out.
func (s *Subscriber) finish(topic string, id int64) {
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if _, err := execRelaxed(ctx, s.db, `DELETE FROM tributary_claims WHERE id = $1 AND owner = $2`, id, s.cfg.Owner); err != nil {
		s.logger.Error("Completing a claim failed; its messages will be delivered again", err,
			watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup})
	}
}

// handBack returns a claim's unacked messages to the group at once (instead
// of after ClaimTTL), or deletes the claim when everything was acked.
func (s *Subscriber) handBack(topic string, c *claim, acked []bool) {
	var left []int64
	for i, r := range c.rows {
		if !acked[i] {
			left = append(left, r.key)
		}
	}
	if len(left) == 0 {
		s.finish(topic, c.id)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_, err := execRelaxed(ctx, s.db, `UPDATE tributary_claims SET offsets = $3, owner = '', expires_at = '-infinity'
		WHERE id = $1 AND owner = $2`, c.id, s.cfg.Owner, left)
	if err != nil {
		s.logger.Error("Handing back unacked messages failed; they will be delivered again after the claim expires", err,
			watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup, "messages": len(left)})
	}
}

// sleep waits d, or until wake fires; false if the subscription must stop.
func sleep(ctx context.Context, closing <-chan struct{}, wake <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-closing:
		return false
	case <-ctx.Done():
		return false
	}
}

// retryWait backs off after database errors: from the poll interval up to 5 s.
type retryWait struct {
	base, next time.Duration
}

func newRetryWait(base time.Duration) *retryWait { return &retryWait{base: base, next: base} }

func (r *retryWait) reset() { r.next = r.base }

func (r *retryWait) wait(ctx context.Context, closing, wake <-chan struct{}) bool {
	d := r.next
	r.next = min(r.next*2, 5*time.Second)
	return sleep(ctx, closing, wake, d)
}

// closingContext returns a context that ends with ctx or when closing is
// closed.
func closingContext(ctx context.Context, closing <-chan struct{}) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-closing:
			cancel()
		case <-c.Done():
		}
	}()
	return c, cancel
}
