package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// PostgresDedupStore keeps dedup keys in tributary_dedup, shared by every
// instance on the database and kept across restarts.
type PostgresDedupStore struct {
	// DB is used when ctx carries no transaction.
	DB Executor
}

// Record implements DedupStore. An expired key counts as new and is renewed.
// Two instances recording the same key at once serialise on its primary key:
// the second sees the first's key once the first commits.
func (s PostgresDedupStore) Record(ctx context.Context, pipeline, key string, ttl time.Duration) (bool, error) {
	db := s.DB
	if tx, ok := TxFromContext(ctx); ok {
		db = tx
	}
	res, err := db.ExecContext(ctx, `
		INSERT INTO tributary_dedup (pipeline, key, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (pipeline, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE tributary_dedup.expires_at < now()`,
		pipeline, key, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("dedup: record key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("dedup: record key: %w", err)
	}
	return n == 0, nil
}

// Prune deletes expired keys, at most limit of them, and says how many.
func (s PostgresDedupStore) Prune(ctx context.Context, limit int) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `
		DELETE FROM tributary_dedup WHERE ctid IN (
			SELECT ctid FROM tributary_dedup WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, fmt.Errorf("dedup: prune: %w", err)
	}
	return res.RowsAffected()
}

// PostgresPoisonStore adds poisoned messages to tributary_poison.
type PostgresPoisonStore struct {
	// DB is used when ctx carries no transaction.
	DB Executor
}

// Add implements PoisonStore.
func (s PostgresPoisonStore) Add(ctx context.Context, rec PoisonRecord) error {
	db := s.DB
	if tx, ok := TxFromContext(ctx); ok {
		db = tx
	}
	meta, err := json.Marshal(rec.Metadata)
	if err != nil {
		return fmt.Errorf("poison: metadata: %w", err)
	}
	payload := rec.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err = db.ExecContext(ctx, `
		INSERT INTO tributary_poison
			(pipeline, sink, message_uuid, event_id, payload, metadata, reason, attempts, first_failure, last_failure)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		rec.Pipeline, rec.Sink, rec.MessageUUID, rec.EventID, payload, meta, rec.Reason,
		rec.Attempts, rec.FirstFailure, rec.LastFailure)
	if err != nil {
		return fmt.Errorf("poison: add: %w", err)
	}
	return nil
}
