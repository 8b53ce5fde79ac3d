package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/store"
)

// QuarantineRecord is an event the backend refused for good on ingest (see
// IngestQuarantine), as its source handed it on.
type QuarantineRecord struct {
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

// IngestQuarantine lists, shows, replays and purges the events that the
// router set aside on ingest because the backend refuses them for good: a
// NUL character in the id, type or metadata (text and jsonb refuse it), a
// value over a database limit. The router acks such an event, so its
// source moves on (a cursor advances past it, webhookin answers 422); the
// event waits here, with its bytes and the reason, for an operator. Like
// PoisonQueue, it needs only the database.
type IngestQuarantine struct {
	pool *pgxpool.Pool
	// store, when set, stores a replayed event through a backend other than
	// Postgres (JetStreamBackend.IngestQuarantine).
	store func(ctx context.Context, target ingestTarget, item ingestItem) error
}

// NewIngestQuarantine returns the ingest quarantine stored in pool's
// database; Replay stores into the pipeline's Postgres topic.
func NewIngestQuarantine(pool *pgxpool.Pool) *IngestQuarantine { return &IngestQuarantine{pool: pool} }

// QuarantineFilter selects quarantine records; zero fields match everything.
type QuarantineFilter struct {
	Pipeline string
	Source   string
	// Limit caps List; 100 when zero.
	Limit int
}

func (f QuarantineFilter) where() (string, []any) {
	return `($1 = '' OR pipeline = $1) AND ($2 = '' OR source = $2)`, []any{f.Pipeline, f.Source}
}

const quarantineColumns = `id, pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason, sqlstate, quarantined_at`

func scanQuarantine(row pgx.Row) (QuarantineRecord, error) {
	var rec QuarantineRecord
	var uuid, meta []byte
	var ttl float64
	err := row.Scan(&rec.ID, &rec.Pipeline, &rec.Source, &rec.EventID, &uuid, &meta, &rec.Payload,
		&rec.DedupKey, &ttl, &rec.Reason, &rec.SQLState, &rec.QuarantinedAt)
	if err != nil {
		return rec, err
	}
	rec.MessageUUID, rec.DedupTTL = string(uuid), time.Duration(ttl*float64(time.Second))
	if err := json.Unmarshal(meta, &rec.Metadata); err != nil {
		return rec, fmt.Errorf("quarantine record %d: metadata: %w", rec.ID, err)
	}
	return rec, nil
}

// List returns quarantine records, oldest first.
func (q *IngestQuarantine) List(ctx context.Context, f QuarantineFilter) ([]QuarantineRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := f.where()
	rows, err := q.pool.Query(ctx, `SELECT `+quarantineColumns+` FROM tributary_ingest_quarantine WHERE `+where+
		` ORDER BY id LIMIT $3`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("quarantine: list: %w", err)
	}
	defer rows.Close()
	var out []QuarantineRecord
	for rows.Next() {
		rec, err := scanQuarantine(rows)
		if err != nil {
			return nil, fmt.Errorf("quarantine: list: %w", err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Count returns how many records match f.
func (q *IngestQuarantine) Count(ctx context.Context, f QuarantineFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := q.pool.QueryRow(ctx, `SELECT count(*) FROM tributary_ingest_quarantine WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("quarantine: count: %w", err)
	}
	return n, nil
}

// Get returns one quarantine record.
func (q *IngestQuarantine) Get(ctx context.Context, id int64) (QuarantineRecord, error) {
	rec, err := scanQuarantine(q.pool.QueryRow(ctx, `SELECT `+quarantineColumns+` FROM tributary_ingest_quarantine WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, fmt.Errorf("quarantine record %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return rec, fmt.Errorf("quarantine: get %d: %w", id, err)
	}
	return rec, nil
}

// ErrStillUnstorable is returned by Replay for an event the backend still
// refuses; its record stays.
var ErrStillUnstorable = errors.New("the event still cannot be stored")

// Replay stores a quarantined event into its pipeline's topic as the
// ingest would have (deduped on the same key: an event stored meanwhile is
// not stored twice) and removes the record. With Postgres both happen in
// one transaction. An event the backend still refuses stays, and the error
// wraps ErrStillUnstorable.
func (q *IngestQuarantine) Replay(ctx context.Context, id int64) error {
	if q.store != nil {
		rec, err := q.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := q.store(ctx, rec.target(), rec.item()); err != nil {
			return replayError(id, err)
		}
		if _, err := q.pool.Exec(ctx, `DELETE FROM tributary_ingest_quarantine WHERE id = $1`, id); err != nil {
			return fmt.Errorf("quarantine: replay %d: %w", id, err)
		}
		return nil
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: replay %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rec, err := scanQuarantine(tx.QueryRow(ctx, `DELETE FROM tributary_ingest_quarantine WHERE id = $1 RETURNING `+quarantineColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("quarantine record %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("quarantine: replay %d: %w", id, err)
	}
	if _, err := ingestPostgres(ctx, tx, rec.target(), []ingestItem{rec.item()}, nil); err != nil {
		return replayError(id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("quarantine: replay %d: %w", id, err)
	}
	return nil
}

func replayError(id int64, err error) error {
	if u, ok := classifyUnstorable(err); ok {
		return fmt.Errorf("quarantine: replay %d: %w: %s", id, ErrStillUnstorable, u.Reason)
	}
	return fmt.Errorf("quarantine: replay %d: %w", id, err)
}

func (rec QuarantineRecord) target() ingestTarget {
	return ingestTarget{topic: Topic(rec.Pipeline), pipeline: rec.Pipeline, ttl: rec.DedupTTL}
}

// item is the event as its ingest prepared it, marked as replayed.
func (rec QuarantineRecord) item() ingestItem {
	msg := message.NewMessage(rec.MessageUUID, rec.Payload)
	for k, v := range rec.Metadata {
		msg.Metadata.Set(k, v)
	}
	msg.Metadata.Set("tributary_replayed_at", time.Now().UTC().Format(time.RFC3339))
	return ingestItem{msg: msg, key: rec.DedupKey}
}

// Purge deletes the records matching f and says how many.
func (q *IngestQuarantine) Purge(ctx context.Context, f QuarantineFilter) (int64, error) {
	where, args := f.where()
	tag, err := q.pool.Exec(ctx, `DELETE FROM tributary_ingest_quarantine WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("quarantine: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}

// pgExecer is what ingest and quarantine statements run on: a pool, a
// transaction or a savepoint.
type pgExecer = store.DB

// quarantine records item, refused for good by target's backend, in the
// ingest quarantine.
func quarantine(ctx context.Context, db pgExecer, target ingestTarget, item ingestItem, why unstorable) error {
	meta, err := json.Marshal(item.msg.Metadata)
	if err != nil {
		return fmt.Errorf("quarantine: metadata: %w", err)
	}
	payload := item.msg.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err = db.Exec(ctx, `INSERT INTO tributary_ingest_quarantine
		(pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason, sqlstate)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		target.pipeline, item.msg.Metadata.Get(tributary.MetaSource), printable(tributary.EventID(item.msg), 200),
		[]byte(item.msg.UUID), meta, payload, item.key, target.ttl.Seconds(), why.Reason, why.SQLState)
	if err != nil {
		return fmt.Errorf("quarantine: record event: %w", err)
	}
	return nil
}
