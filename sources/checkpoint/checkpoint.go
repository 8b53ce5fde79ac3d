// Package checkpoint stores a source's cursor (an ETag, a createdAt, a batch
// id) durably in PostgreSQL, so that a restarted source resumes where the
// last acked event left it.
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes checkpoints in tributary_checkpoints.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool's database (migrated with package migrations).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Load decodes the checkpoint of source into v and reports whether there was one.
func (s *Store) Load(ctx context.Context, source string, v any) (bool, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM tributary_checkpoints WHERE source = $1`, source).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint %q: load: %w", source, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("checkpoint %q: decode: %w", source, err)
	}
	return true, nil
}

// Save stores v as the checkpoint of source.
func (s *Store) Save(ctx context.Context, source string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint %q: encode: %w", source, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO tributary_checkpoints (source, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (source) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, source, raw)
	if err != nil {
		return fmt.Errorf("checkpoint %q: save: %w", source, err)
	}
	return nil
}
