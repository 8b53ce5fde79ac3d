package middleware

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/store"
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
	return store.RecordDedupKey(ctx, executor(ctx, s.DB), pipeline, key, ttl)
}

// Prune deletes expired keys, at most limit of them, and says how many.
func (s PostgresDedupStore) Prune(ctx context.Context, limit int) (int64, error) {
	return store.PruneDedup(ctx, s.DB, limit)
}

// PostgresPoisonStore adds poisoned messages to tributary_poison.
type PostgresPoisonStore struct {
	// DB is used when ctx carries no transaction.
	DB Executor
}

// Add implements PoisonStore.
func (s PostgresPoisonStore) Add(ctx context.Context, rec PoisonRecord) error {
	return store.InsertPoison(ctx, executor(ctx, s.DB), rec)
}
