package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Quarantined is one row of tributary_ingest_quarantine: an event the
// backend refused for good on ingest, as its source handed it on
// (router.IngestQuarantine).
type Quarantined struct {
	ID       int64  `json:"id"`
	Pipeline string `json:"pipeline"`
	Source   string `json:"source"`
	// EventID is the event id made printable (control characters and
	// invalid UTF-8 replaced, cut at 200 bytes); the exact id is
	// Metadata[tributary.MetaEventID].
	EventID     string            `json:"event_id"`
	MessageUUID string            `json:"message_uuid"`
	Metadata    map[string]string `json:"metadata"`
	Payload     []byte            `json:"payload"`
	// DedupKey is the key the ingest deduped on ("": dedup off); a replay
	// uses it again, with DedupTTL.
	DedupKey string        `json:"dedup_key"`
	DedupTTL time.Duration `json:"dedup_ttl"`
	// Reason says what is wrong with the event, with the database's message.
	Reason string `json:"reason"`
	// SQLState is Postgres's error code ("" for another backend's refusal).
	SQLState      string    `json:"sqlstate"`
	QuarantinedAt time.Time `json:"quarantined_at"`
}

// InsertQuarantined stores q (its ID and QuarantinedAt are the table's),
// the uuid as bytes: what the database refused may be in it.
func InsertQuarantined(ctx context.Context, db DB, q Quarantined) error {
	meta, err := json.Marshal(q.Metadata)
	if err != nil {
		return fmt.Errorf("quarantine: metadata: %w", err)
	}
	_, err = db.Exec(ctx, `INSERT INTO tributary_ingest_quarantine
		(pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason, sqlstate)
		VALUES ($1, $2, $3, $4, $5, COALESCE($6::bytea, ''), $7, $8, $9, $10)`,
		q.Pipeline, q.Source, q.EventID, []byte(q.MessageUUID), meta, q.Payload, q.DedupKey, q.DedupTTL.Seconds(), q.Reason, q.SQLState)
	if err != nil {
		return fmt.Errorf("quarantine: record event: %w", err)
	}
	return nil
}

// QuarantineFilter selects quarantine records; zero fields match everything.
type QuarantineFilter struct {
	Pipeline string
	Source   string
	// Limit caps ListQuarantined; 100 when zero.
	Limit int
}

func (f QuarantineFilter) where() (string, []any) {
	return `($1 = '' OR pipeline = $1) AND ($2 = '' OR source = $2)`, []any{f.Pipeline, f.Source}
}

const quarantineColumns = `id, pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason, sqlstate, quarantined_at`

func scanQuarantined(row pgx.CollectableRow) (Quarantined, error) {
	var q Quarantined
	var uuid, meta []byte
	var ttl float64
	err := row.Scan(&q.ID, &q.Pipeline, &q.Source, &q.EventID, &uuid, &meta, &q.Payload,
		&q.DedupKey, &ttl, &q.Reason, &q.SQLState, &q.QuarantinedAt)
	if err != nil {
		return q, err
	}
	q.MessageUUID, q.DedupTTL = string(uuid), time.Duration(ttl*float64(time.Second))
	if err := json.Unmarshal(meta, &q.Metadata); err != nil {
		return q, fmt.Errorf("quarantine record %d: metadata: %w", q.ID, err)
	}
	return q, nil
}

// ListQuarantined returns the records f selects, oldest first.
func ListQuarantined(ctx context.Context, db DB, f QuarantineFilter) ([]Quarantined, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := f.where()
	out, err := query(ctx, db, scanQuarantined, `SELECT `+quarantineColumns+` FROM tributary_ingest_quarantine WHERE `+where+
		` ORDER BY id LIMIT $3`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("quarantine: list: %w", err)
	}
	return out, nil
}

// CountQuarantined returns how many records match f.
func CountQuarantined(ctx context.Context, db DB, f QuarantineFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM tributary_ingest_quarantine WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("quarantine: count: %w", err)
	}
	return n, nil
}

// GetQuarantined returns record id; ErrNotFound (wrapped) when there is none.
func GetQuarantined(ctx context.Context, db DB, id int64) (Quarantined, error) {
	q, err := queryOne(ctx, db, scanQuarantined, `SELECT `+quarantineColumns+` FROM tributary_ingest_quarantine WHERE id = $1`, id)
	if err != nil {
		return q, fmt.Errorf("quarantine record %d: %w", id, noRows(err))
	}
	return q, nil
}

// TakeQuarantined deletes record id and returns it (in db's transaction,
// with what replays it); ErrNotFound (wrapped) when there is none.
func TakeQuarantined(ctx context.Context, db DB, id int64) (Quarantined, error) {
	q, err := queryOne(ctx, db, scanQuarantined, `DELETE FROM tributary_ingest_quarantine WHERE id = $1 RETURNING `+quarantineColumns, id)
	if err != nil {
		return q, fmt.Errorf("quarantine record %d: %w", id, noRows(err))
	}
	return q, nil
}

// DeleteQuarantined deletes record id, if it is there.
func DeleteQuarantined(ctx context.Context, db DB, id int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM tributary_ingest_quarantine WHERE id = $1`, id); err != nil {
		return fmt.Errorf("quarantine record %d: delete: %w", id, err)
	}
	return nil
}

// PurgeQuarantined deletes the records f selects and says how many.
func PurgeQuarantined(ctx context.Context, db DB, f QuarantineFilter) (int64, error) {
	where, args := f.where()
	tag, err := db.Exec(ctx, `DELETE FROM tributary_ingest_quarantine WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("quarantine: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
