package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dedup keys (tributary_dedup) are written by the Postgres backend's ingest
// statement in the same statement as the events they guard (router); these
// are the other statements on them.

// RecordDedupKey records key for pipeline for ttl and reports whether it
// was already held (a duplicate). An expired key counts as new and is
// renewed. Two writers recording the same key at once serialise on its
// primary key: the second sees the first's key once the first commits.
func RecordDedupKey(ctx context.Context, db DB, pipeline, key string, ttl time.Duration) (duplicate bool, err error) {
	tag, err := db.Exec(ctx, `
		INSERT INTO tributary_dedup (pipeline, key, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (pipeline, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE tributary_dedup.expires_at < now()`,
		pipeline, key, ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("dedup: record key: %w", err)
	}
	return tag.RowsAffected() == 0, nil
}

// RecordDedupKeys records keys for pipeline for ttl, as RecordDedupKey does
// each, in one statement.
func RecordDedupKeys(ctx context.Context, db DB, pipeline string, keys []string, ttl time.Duration) error {
	if _, err := db.Exec(ctx, `INSERT INTO tributary_dedup (pipeline, key, expires_at)
		SELECT $1, k, now() + make_interval(secs => $3) FROM unnest($2::text[]) AS k
		ON CONFLICT (pipeline, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE tributary_dedup.expires_at < now()`, pipeline, keys, ttl.Seconds()); err != nil {
		return fmt.Errorf("record %d dedup keys: %w", len(keys), err)
	}
	return nil
}

// HeldDedupKeys returns which of keys pipeline holds unexpired.
func HeldDedupKeys(ctx context.Context, db DB, pipeline string, keys []string) (map[string]bool, error) {
	found, err := query(ctx, db, pgx.RowTo[string], `SELECT key FROM tributary_dedup
		WHERE pipeline = $1 AND key = ANY($2) AND expires_at >= now()`, pipeline, keys)
	if err != nil {
		return nil, fmt.Errorf("read dedup keys: %w", err)
	}
	held := make(map[string]bool, len(found))
	for _, k := range found {
		held[k] = true
	}
	return held, nil
}

// DedupExpiry returns when pipeline's key expires; zero when it holds no
// unexpired key.
func DedupExpiry(ctx context.Context, db DB, pipeline, key string) (time.Time, error) {
	var until time.Time
	err := db.QueryRow(ctx, `SELECT expires_at FROM tributary_dedup WHERE pipeline = $1 AND key = $2 AND expires_at > now()`,
		pipeline, key).Scan(&until)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("dedup key: %w", err)
	}
	return until, nil
}

// PruneDedup deletes expired keys, at most limit of them, and says how many.
func PruneDedup(ctx context.Context, db DB, limit int) (int64, error) {
	return pruneExpired(ctx, db, "tributary_dedup", limit)
}

// pruneExpired deletes up to limit rows of table whose expires_at passed.
func pruneExpired(ctx context.Context, db DB, table string, limit int) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM `+table+` WHERE ctid IN (
		SELECT ctid FROM `+table+` WHERE expires_at < now() LIMIT $1)`, limit)
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// DedupHit is one row of tributary_dedup_hits: how often one source handed
// on an event whose key was already held.
type DedupHit struct {
	Pipeline string
	Key      string
	Source   string
	Hits     int64
	LastHit  time.Time
}

// DedupHits returns the hit counts of pipeline's key, by source (at most 100).
func DedupHits(ctx context.Context, db DB, pipeline, key string) ([]DedupHit, error) {
	out, err := query(ctx, db, pgx.RowToStructByPos[DedupHit], `SELECT pipeline, key, source, hits, last_hit
		FROM tributary_dedup_hits WHERE pipeline = $1 AND key = $2 ORDER BY source LIMIT 100`, pipeline, key)
	if err != nil {
		return nil, fmt.Errorf("dedup hits: %w", err)
	}
	return out, nil
}

// RecordDedupHits adds one hit per (keys[i], sources[i]) to pipeline's
// counts, each kept for ttl after its last hit. The Postgres backend runs
// it only when an ingest met a duplicate, in a statement of its own, so
// storing new events costs nothing more.
func RecordDedupHits(ctx context.Context, db DB, pipeline string, keys, sources []string, ttl time.Duration) error {
	_, err := db.Exec(ctx, `
		INSERT INTO tributary_dedup_hits AS h (pipeline, key, source, hits, expires_at)
		SELECT $1, k, s, count(*), now() + make_interval(secs => $4) FROM unnest($2::text[], $3::text[]) AS x(k, s)
		GROUP BY k, s ORDER BY k, s
		ON CONFLICT (pipeline, key, source) DO UPDATE SET hits = h.hits + EXCLUDED.hits, last_hit = now(), expires_at = EXCLUDED.expires_at`,
		pipeline, keys, sources, ttl.Seconds())
	if err != nil {
		return fmt.Errorf("dedup hits: record %d: %w", len(keys), err)
	}
	return nil
}

// PruneDedupHits deletes up to limit hit counts whose dedup window has
// passed since their last hit.
func PruneDedupHits(ctx context.Context, db DB, limit int) (int64, error) {
	return pruneExpired(ctx, db, "tributary_dedup_hits", limit)
}
