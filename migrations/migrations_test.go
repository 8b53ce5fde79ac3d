package migrations_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

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

// TestCheck: Check reads goose's version table and names what is missing,
// from a database never migrated to one that lost a version; it creates
// nothing itself.
func TestCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var pe *migrations.PendingError
	if err := migrations.Check(ctx, pool); !errors.As(err, &pe) || !pe.Fresh || len(pe.Files) == 0 || pe.Files[0] != "00001_core.sql" || pe.Versions[0] != 1 {
		t.Fatalf("fresh database: %v (%+v)", err, pe)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("Check created goose's version table (%v)", err)
	}
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Check(ctx, pool); err != nil {
		t.Fatalf("migrated database: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 1`); err != nil {
		t.Fatal(err)
	}
	pe = nil
	if err := migrations.Check(ctx, pool); !errors.As(err, &pe) || pe.Fresh || len(pe.Files) != 1 || pe.Files[0] != "00001_core.sql" {
		t.Fatalf("version 1 taken back: %v (%+v)", err, pe)
	}
}

// TestUpRefusesUnnamedDatabase: a pool whose connection string names no
// database (DATABASE_URL unset in an embedding program) is refused before
// any connection, instead of migrating the database libpq falls back to.
func TestUpRefusesUnnamedDatabase(t *testing.T) {
	t.Setenv("PGDATABASE", "")
	for _, s := range []string{"", "host=127.0.0.1 port=1 user=postgres", "postgres://postgres@127.0.0.1:1/?sslmode=disable"} {
		pool, err := pgxpool.New(context.Background(), s) // connects lazily: nothing listens on port 1
		if err != nil {
			t.Fatalf("pgxpool.New(%q): %v", s, err)
		}
		_, err = migrations.Up(context.Background(), pool)
		pool.Close()
		if !errors.Is(err, migrations.ErrNoDatabase) {
			t.Errorf("Up on %q = %v, want ErrNoDatabase", s, err)
		}
	}
}
