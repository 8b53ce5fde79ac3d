package middleware_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/middleware"
)

func TestPostgresDedupStoreExpiresAndPrunes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := middleware.PostgresDedupStore{DB: pool}
	ctx := context.Background()

	steps := []struct {
		pipeline, key string
		ttl           time.Duration
		wantDup       bool
	}{
		{"p", "a", time.Hour, false},
		{"p", "a", time.Hour, true},
		{"q", "a", time.Hour, false}, // keys are per pipeline
		{"p", "short", 50 * time.Millisecond, false},
	}
	for i, s := range steps {
		dup, err := store.Record(ctx, s.pipeline, s.key, s.ttl)
		if err != nil || dup != s.wantDup {
			t.Fatalf("step %d: dup=%v err=%v, want dup=%v", i, dup, err, s.wantDup)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if dup, _ := store.Record(ctx, "p", "short", 50*time.Millisecond); dup {
		t.Fatal("an expired key still counts as a duplicate")
	}
	time.Sleep(100 * time.Millisecond)
	n, err := store.Prune(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the one expired key", n, err)
	}
}

// TestPostgresDedupStoreIsSharedByInstances: many "instances" racing on the
// same keys in their own transactions record each key exactly once.
func TestPostgresDedupStoreIsSharedByInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	const instances, keys = 4, 50
	var mu sync.Mutex
	fresh := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < instances; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < keys; k++ {
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				store := middleware.PostgresDedupStore{}
				dup, err := store.Record(middleware.ContextWithTx(ctx, tx), "p", string(rune('A'+k)), time.Hour)
				if err != nil {
					t.Error(err)
					_ = tx.Rollback(ctx)
					return
				}
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
				if !dup {
					mu.Lock()
					fresh[string(rune('A'+k))]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(fresh) != keys {
		t.Fatalf("%d keys recorded, want %d", len(fresh), keys)
	}
	for k, n := range fresh {
		if n != 1 {
			t.Fatalf("key %q judged new by %d instances", k, n)
		}
	}
}
