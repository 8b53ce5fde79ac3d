package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// ErrNotFound is returned for a poison record that does not exist.
var ErrNotFound = errors.New("not found")

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
type PoisonFilter struct {
	Pipeline string
	Sink     string
	// Limit caps List; 100 when zero.
	Limit int
}

func (f PoisonFilter) where() (string, []any) {
	return `($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2)`, []any{f.Pipeline, f.Sink}
}

const poisonColumns = `id, pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure, poisoned_at`

func scanPoison(row pgx.Row) (middleware.PoisonRecord, error) {
	var rec middleware.PoisonRecord
	var meta []byte
	err := row.Scan(&rec.ID, &rec.Pipeline, &rec.Sink, &rec.MessageUUID, &rec.EventID, &rec.Payload, &meta,
		&rec.Reason, &rec.Attempts, &rec.FirstFailure, &rec.LastFailure, &rec.PoisonedAt)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(meta, &rec.Metadata); err != nil {
		return rec, fmt.Errorf("poison record %d: metadata: %w", rec.ID, err)
	}
	return rec, nil
}

// List returns poison records, oldest first.
func (q *PoisonQueue) List(ctx context.Context, f PoisonFilter) ([]middleware.PoisonRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := f.where()
	rows, err := q.pool.Query(ctx, `SELECT `+poisonColumns+` FROM tributary_poison WHERE `+where+
		` ORDER BY id LIMIT $3`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("poison: list: %w", err)
	}
	defer rows.Close()
	var out []middleware.PoisonRecord
	for rows.Next() {
		rec, err := scanPoison(rows)
		if err != nil {
			return nil, fmt.Errorf("poison: list: %w", err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Count returns how many records match f.
func (q *PoisonQueue) Count(ctx context.Context, f PoisonFilter) (int64, error) {
	where, args := f.where()
	var n int64
	err := q.pool.QueryRow(ctx, `SELECT count(*) FROM tributary_poison WHERE `+where, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("poison: count: %w", err)
	}
	return n, nil
}

// Get returns one poison record.
func (q *PoisonQueue) Get(ctx context.Context, id int64) (middleware.PoisonRecord, error) {
	rec, err := scanPoison(q.pool.QueryRow(ctx, `SELECT `+poisonColumns+` FROM tributary_poison WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, fmt.Errorf("poison record %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("poison: get %d: %w", id, err)
	}
	return rec, nil
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
	rec, err := scanPoison(tx.QueryRow(ctx, `DELETE FROM tributary_poison WHERE id = $1 RETURNING `+poisonColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("poison record %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("poison: replay %d: %w", id, err)
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
	where, args := f.where()
	tag, err := q.pool.Exec(ctx, `DELETE FROM tributary_poison WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("poison: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
