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

// Publisher appends messages to topics. A Publisher on a pool commits each
// Publish call on its own; one on a transaction (NewTxPublisher) writes into
// the caller's transaction, which keeps the topic locked until it ends.
type Publisher struct {
	db     Executor
	pool   DB // nil for a transaction publisher
	closed atomic.Bool
}

// NewPublisher returns a Publisher that commits every Publish call.
func NewPublisher(db DB) *Publisher { return &Publisher{db: db, pool: db} }

// NewTxPublisher returns a Publisher writing into tx: the messages are stored
// if and when the caller commits tx.
func NewTxPublisher(tx Executor) *Publisher { return &Publisher{db: tx} }

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
	if p.pool == nil {
		return publishIn(ctx, p.db, topic, msgs)
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgtopic: publish to %q: %w", topic, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := publishIn(ctx, tx, topic, msgs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgtopic: publish to %q: commit: %w", topic, err)
	}
	return nil
}

func publishIn(ctx context.Context, db Executor, topic string, msgs []*message.Message) error {
	uuids, payloads, metas := encode(msgs)
	b := &pgx.Batch{}
	b.Queue(lockTopic, LockClass, topic)
	b.Queue(insertMessages, topic, uuids, payloads, metas)
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgtopic: publish to %q: %w", topic, err)
	}
	return nil
}

// Close implements message.Publisher; later Publish calls fail.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
