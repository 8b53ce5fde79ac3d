package pgtopic

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// QueuePublisher adds messages to a delayed queue: each is due at the time in
// its delay.DelayedUntilKey metadata (RFC 3339, fractions kept), or now.
type QueuePublisher struct {
	db Executor
	closer
}

// NewQueuePublisher returns a QueuePublisher writing through db.
func NewQueuePublisher(db Executor) *QueuePublisher { return &QueuePublisher{db: db} }

// Publish implements message.Publisher.
func (p *QueuePublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx := context.Background()
	uuids, payloads, metas := encode(msgs)
	due := make([]time.Time, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		due[i] = now
		if s := m.Metadata.Get(delay.DelayedUntilKey); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return fmt.Errorf("pgtopic: message %s: %s %q: %w", m.UUID, delay.DelayedUntilKey, s, err)
			}
			due[i] = t
		}
	}
	exec := p.db.Exec
	if _, inTx := p.db.(pgx.Tx); !inTx {
		// On its own (a sink's requeue before it acks the message), a
		// lost requeue is a repeat: the ack's completion commits after
		// it, and a crash loses a suffix of the commits, so it takes the
		// completion with it and the message is delivered again. In a
		// caller's transaction (the console's replay) the caller decides.
		exec = func(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
			return execRelaxed(ctx, p.db, sql, args...)
		}
	}
	_, err := exec(ctx, `
		WITH ins AS (
			INSERT INTO tributary_queue (topic, due_at, uuid, payload, metadata)
			SELECT $1, d, u, p, m FROM unnest($2::timestamptz[], $3::text[], $4::bytea[], $5::jsonb[]) AS t(d, u, p, m)
			RETURNING 1)
		SELECT pg_notify('`+NotifyChannel+`', $1) WHERE EXISTS (SELECT 1 FROM ins)`,
		topic, due, uuids, payloads, metas)
	if err != nil {
		return fmt.Errorf("pgtopic: queue into %q: %w", topic, err)
	}
	return nil
}

// QueueSubscriber reads delayed queues: due rows are claimed with a lease,
// handed out, and deleted once acked. There are no consumer groups: the
// QueueSubscribers of one queue share it.
type QueueSubscriber struct {
	*consumer
}

// NewQueueSubscriber returns a QueueSubscriber; cfg.ConsumerGroup is ignored.
func NewQueueSubscriber(db DB, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*QueueSubscriber, error) {
	c, err := newConsumer(db, cfg, logger)
	if err != nil {
		return nil, err
	}
	return &QueueSubscriber{c}, nil
}

// Subscribe implements message.Subscriber.
func (s *QueueSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.subscribe(ctx, topic, s.consume)
}

func (s *QueueSubscriber) consume(ctx context.Context, topic string, out chan<- *message.Message) {
	logFields := watermill.LogFields{"topic": topic}
	wake, stopWake := s.listen(topic)
	defer stopWake()
	retry := newRetryWait(s.cfg.PollInterval)
	msgCtx, endMessages := closingContext(ctx, s.closing)
	defer endMessages()
	for {
		if s.stopping(ctx) {
			return
		}
		rows, idle, err := s.claim(ctx, topic)
		if err != nil {
			if !s.failed(ctx, retry, "Claiming queued messages", err, logFields) {
				return
			}
			continue
		}
		retry.reset()
		if len(rows) == 0 {
			if !sleep(ctx, s.closing, wake, idle) {
				return
			}
			continue
		}
		acked, stopped := dispatch(ctx, msgCtx, s.closing, out, rows, s.cfg.delivery(), s.logger)
		s.settle(topic, rows, acked)
		if stopped {
			return
		}
	}
}

// claim takes up to BatchSize due rows. With none due it says how long to
// wait: until the next one is due, at most PollInterval.
func (s *QueueSubscriber) claim(ctx context.Context, topic string) ([]row, time.Duration, error) {
	// A lost claim is a repeat: no wait for the disk (relaxCommit).
	var out []row
	err := queryRelaxed(ctx, s.db, func(rows pgx.Rows) error {
		r, err := scanRow(rows)
		out = append(out, r)
		return err
	}, `
		UPDATE tributary_queue SET claimed_by = $3, claim_expires = now() + make_interval(secs => $4)
		WHERE id IN (SELECT id FROM tributary_queue
			WHERE topic = $1 AND due_at <= now() AND (claim_expires IS NULL OR claim_expires < now())
			ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id, uuid, payload, metadata`, topic, s.cfg.BatchSize, s.cfg.Owner, s.cfg.ClaimTTL.Seconds())
	if err != nil {
		return nil, 0, err
	}
	if len(out) > 0 {
		slices.SortFunc(out, func(a, b row) int { return cmp.Compare(a.key, b.key) })
		return out, 0, nil
	}
	var secs *float64
	err = s.db.QueryRow(ctx, `SELECT extract(epoch FROM min(due_at) - now())::float8 FROM tributary_queue
		WHERE topic = $1 AND claim_expires IS NULL`, topic).Scan(&secs)
	if err != nil || secs == nil {
		return nil, s.cfg.PollInterval, err
	}
	return nil, min(max(time.Duration(*secs*float64(time.Second)), time.Millisecond), s.cfg.PollInterval), nil
}

// settle deletes the acked rows and releases the others at once.
func (s *QueueSubscriber) settle(topic string, rows []row, acked []bool) {
	var done, left []int64
	for i, r := range rows {
		if acked[i] {
			done = append(done, r.key)
		} else {
			left = append(left, r.key)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	// A lost completion is a repeat: no wait for the disk (relaxCommit).
	_, err := execRelaxed(ctx, s.db, `
		WITH released AS (UPDATE tributary_queue SET claimed_by = NULL, claim_expires = NULL
			WHERE id = ANY($3) AND claimed_by = $1)
		DELETE FROM tributary_queue WHERE id = ANY($2) AND claimed_by = $1`, s.cfg.Owner, done, left)
	if err != nil {
		s.logger.Error("Settling queued messages failed; they will be delivered again after their claim expires", err,
			watermill.LogFields{"topic": topic})
	}
}
