package router

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/store"
)

// ErrNotFound is returned for a poison record that does not exist.
var ErrNotFound = store.ErrNotFound

// PoisonQueue lists, shows, replays and purges poisoned messages. It needs
// only the database, so operator tools can use it while pipelines run
// elsewhere.
type PoisonQueue struct {
	pool *pgxpool.Pool
	// requeue, when set, puts a replayed message on its sink's retry topic
	// in a backend other than Postgres (JetStreamBackend.PoisonQueue).
	requeue func(ctx context.Context, id int64, topic string, msg *message.Message) error
}

// NewPoisonQueue returns the poison queue stored in pool's database.
func NewPoisonQueue(pool *pgxpool.Pool) *PoisonQueue { return &PoisonQueue{pool: pool} }

// PoisonFilter selects poison records; zero fields match everything.
type PoisonFilter = store.PoisonFilter

// List returns poison records, oldest first.
func (q *PoisonQueue) List(ctx context.Context, f PoisonFilter) ([]middleware.PoisonRecord, error) {
	return store.ListPoison(ctx, q.pool, f)
}

// Count returns how many records match f.
func (q *PoisonQueue) Count(ctx context.Context, f PoisonFilter) (int64, error) {
	return store.CountPoison(ctx, q.pool, f)
}

// Get returns one poison record.
func (q *PoisonQueue) Get(ctx context.Context, id int64) (middleware.PoisonRecord, error) {
	return store.GetPoison(ctx, q.pool, id)
}

// Replay puts a poisoned message back into the delivery path of the one sink
// it failed on, with its attempt count reset, and removes the record — both
// in one transaction.
func (q *PoisonQueue) Replay(ctx context.Context, id int64) error {
	if q.requeue != nil {
		return q.replayElsewhere(ctx, id)
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rec, err := store.TakePoison(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("poison: replay: %w", err)
	}
	msg := replayMessage(rec)
	if err := pgtopic.NewQueuePublisher(tx).Publish(RetryTopic(rec.Pipeline, rec.Sink), msg); err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
	}
	return nil
}

// replayMessage is rec's message as it goes back to its sink: attempt
// count reset, due at once.
func replayMessage(rec middleware.PoisonRecord) *message.Message {
	msg := message.NewMessage(rec.MessageUUID, rec.Payload)
	for k, v := range rec.Metadata {
		msg.Metadata.Set(k, v)
	}
	for _, k := range []string{middleware.MetaAttempts, middleware.MetaFirstFailure, middleware.MetaLastFailure, middleware.MetaLastError} {
		delete(msg.Metadata, k)
	}
	msg.Metadata.Set("tributary_replayed_at", time.Now().UTC().Format(time.RFC3339))
	delay.Message(msg, delay.For(0))
	return msg
}

// Purge deletes the records matching f and says how many.
func (q *PoisonQueue) Purge(ctx context.Context, f PoisonFilter) (int64, error) {
	return store.PurgePoison(ctx, q.pool, f)
}
