package pgtopic

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestRelaxedCommitIsThatTransactionsOnly: execRelaxed and queryRelaxed run
// their statement with synchronous_commit off, and the connection is back to
// the server's setting for the next transaction (on here, as on a durable
// server; the tests' cluster runs with it off). A set_config that leaked to
// the session would make a later ingest commit skip the wait for the disk.
func TestRelaxedCommitIsThatTransactionsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every statement on the same session
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const show = `SELECT current_setting('synchronous_commit')`
	session := func() string {
		var v string
		if err := pool.QueryRow(ctx, show).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := session(); v != "on" {
		t.Fatalf("session: synchronous_commit = %s, want on", v)
	}
	var inside string
	if err := queryRelaxed(ctx, pool, func(r pgx.Rows) error { return r.Scan(&inside) }, show); err != nil {
		t.Fatal(err)
	}
	if inside != "off" {
		t.Fatalf("in queryRelaxed: synchronous_commit = %s, want off", inside)
	}
	if v := session(); v != "on" {
		t.Fatalf("after queryRelaxed: synchronous_commit = %s, want on (it must not outlive its transaction)", v)
	}
	if _, err := execRelaxed(ctx, pool, `CREATE TEMP TABLE relaxed (x int)`); err != nil {
		t.Fatal(err)
	}
	if v := session(); v != "on" {
		t.Fatalf("after execRelaxed: synchronous_commit = %s, want on", v)
	}
}
