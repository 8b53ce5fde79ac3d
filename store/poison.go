package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Poison is one row of tributary_poison: a message a sink gave up on, with
// why (middleware.Poison writes it; router.PoisonQueue lists and replays).
type Poison struct {
	ID           int64             `json:"id"`
	Pipeline     string            `json:"pipeline"`
	Sink         string            `json:"sink"`
	MessageUUID  string            `json:"message_uuid"`
	EventID      string            `json:"event_id"`
	Payload      []byte            `json:"payload"`
	Metadata     map[string]string `json:"metadata"`
	Reason       string            `json:"reason"`
	Attempts     int               `json:"attempts"`
	FirstFailure time.Time         `json:"first_failure"`
	LastFailure  time.Time         `json:"last_failure"`
	PoisonedAt   time.Time         `json:"poisoned_at"`
}

// InsertPoison stores p (its ID and PoisonedAt are the table's).
func InsertPoison(ctx context.Context, db DB, p Poison) error {
	meta, err := json.Marshal(p.Metadata)
	if err != nil {
		return fmt.Errorf("poison: metadata: %w", err)
	}
	_, err = db.Exec(ctx, `
		INSERT INTO tributary_poison
			(pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure)
		VALUES ($1, $2, $3, $4, COALESCE($5::bytea, ''), $6, $7, $8, $9, $10)`,
		p.Pipeline, p.Sink, p.MessageUUID, p.EventID, p.Payload, meta, p.Reason,
		p.Attempts, p.FirstFailure, p.LastFailure)
	if err != nil {
		return fmt.Errorf("poison: add: %w", err)
	}
	return nil
}

// PoisonFilter selects poison records; zero fields match everything.
type PoisonFilter struct {
	Pipeline string
	Sink     string
	// Limit caps ListPoison; 100 when zero.
	Limit int
}

func (f PoisonFilter) where() (string, []any) {
	return `($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2)`, []any{f.Pipeline, f.Sink}
}

const poisonColumns = `id, pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure, poisoned_at`

// scanPoison reads a row of poisonColumns (metadata: JSONB, a string map).
var scanPoison = pgx.RowToStructByPos[Poison]

// ListPoison returns the records f selects, oldest first.
func ListPoison(ctx context.Context, db DB, f PoisonFilter) ([]Poison, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := f.where()
	out, err := query(ctx, db, scanPoison, `SELECT `+poisonColumns+` FROM tributary_poison WHERE `+where+
		` ORDER BY id LIMIT $3`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("poison: list: %w", err)
	}
	return out, nil
}

// CountPoison returns how many records match f.
func CountPoison(ctx context.Context, db DB, f PoisonFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM tributary_poison WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("poison: count: %w", err)
	}
	return n, nil
}

// GetPoison returns record id; ErrNotFound (wrapped) when there is none.
func GetPoison(ctx context.Context, db DB, id int64) (Poison, error) {
	p, err := queryOne(ctx, db, scanPoison, `SELECT `+poisonColumns+` FROM tributary_poison WHERE id = $1`, id)
	if err != nil {
		return p, fmt.Errorf("poison record %d: %w", id, noRows(err))
	}
	return p, nil
}

// TakePoison deletes record id and returns it (in db's transaction, with
// what replays it); ErrNotFound (wrapped) when there is none.
func TakePoison(ctx context.Context, db DB, id int64) (Poison, error) {
	p, err := queryOne(ctx, db, scanPoison, `DELETE FROM tributary_poison WHERE id = $1 RETURNING `+poisonColumns, id)
	if err != nil {
		return p, fmt.Errorf("poison record %d: %w", id, noRows(err))
	}
	return p, nil
}

// DeletePoison deletes record id, if it is there.
func DeletePoison(ctx context.Context, db DB, id int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM tributary_poison WHERE id = $1`, id); err != nil {
		return fmt.Errorf("poison record %d: delete: %w", id, err)
	}
	return nil
}

// PurgePoison deletes the records f selects and says how many.
func PurgePoison(ctx context.Context, db DB, f PoisonFilter) (int64, error) {
	where, args := f.where()
	tag, err := db.Exec(ctx, `DELETE FROM tributary_poison WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("poison: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
