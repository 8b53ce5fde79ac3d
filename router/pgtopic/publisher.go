package pgtopic

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("pgtopic: publisher is closed")

// insertMessages appends rows to a topic (in the order given) and notifies
// listeners once the transaction commits. The caller holds the topic's lock.
const insertMessages = `
WITH ins AS (
	INSERT INTO tributary_messages (topic, uuid, payload, metadata)
	SELECT $1, u, p, m FROM unnest($2::text[], $3::bytea[], $4::jsonb[]) WITH ORDINALITY AS t(u, p, m, n)
	ORDER BY n
	RETURNING 1)
SELECT pg_notify('` + NotifyChannel + `', $1) WHERE EXISTS (SELECT 1 FROM ins)`

// Publisher appends messages to topics, committing each Publish call.
type Publisher struct {
	db DB
	closer
}

// NewPublisher returns a Publisher that commits every Publish call.
func NewPublisher(db DB) *Publisher { return &Publisher{db: db} }

// Publish implements message.Publisher.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	return p.PublishContext(context.Background(), topic, msgs...)
}

// PublishContext is Publish bounded by ctx.
func (p *Publisher) PublishContext(ctx context.Context, topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	if topic == "" {
		return errors.New("pgtopic: empty topic")
	}
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgtopic: publish to %q: %w", topic, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	uuids, payloads, metas := encode(msgs)
	b := &pgx.Batch{}
	b.Queue(lockTopic, LockClass, topic)
	b.Queue(insertMessages, topic, uuids, payloads, metas)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgtopic: publish to %q: %w", topic, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgtopic: publish to %q: commit: %w", topic, err)
	}
	return nil
}

// closer is the closed flag of a publisher.
type closer struct{ closed atomic.Bool }

// Close implements message.Publisher; later Publish calls fail.
func (c *closer) Close() error {
	c.closed.Store(true)
	return nil
}
