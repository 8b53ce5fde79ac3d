package migrations_test

import (
	"context"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/migrations"
)

func TestUpIsIdempotent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool := pgtest.NewPool(t) // applies the migrations once
	applied, err := migrations.Up(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Up applied %v, want nothing", applied)
	}
	for _, table := range []string{"tributary_dedup", "tributary_checkpoints", "tributary_poison", "tributary_delivery_attempts", "tributary_endpoints"} {
		var ok bool
		if err := pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Fatalf("table %s missing (%v)", table, err)
		}
	}
}
