// Package pgtest gives each test a fresh, migrated PostgreSQL database of its
// own, so tests can run in parallel and leave nothing behind.
package pgtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/migrations"
)

// AdminURL is the database used to create and drop test databases.
// TRIBUTARY_TEST_DATABASE_URL overrides it.
func AdminURL() string {
	return cmp.Or(os.Getenv("TRIBUTARY_TEST_DATABASE_URL"), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
}

// NewDatabase creates an empty database for t, dropped when t ends, and returns
// its connection URL. A missing PostgreSQL fails the test: these are
// integration tests and skipping them would prove nothing.
func NewDatabase(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tributary_t_" + hex.EncodeToString(b)
	createDatabase(t, AdminURL(), name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})

	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: TRIBUTARY_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// createDatabase creates database name on the server at admin.
func createDatabase(t testing.TB, admin, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to PostgreSQL at %s: %v (is it running? see README)", admin, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
}

// NewPool creates a fresh migrated database for t and a pool on it.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolFor(t, NewDatabase(t))
}

// PoolFor opens a pool on url, applies the migrations and closes it when t ends.
func PoolFor(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(ctx, pool); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return pool
}
