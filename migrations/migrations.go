// Package migrations holds Tributary's whole schema as plain SQL, applied
// with goose; nothing else creates tables. Package store owns the
// statements on them (its doc lists those still kept beside their
// mechanism).
package migrations

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tributary-dev/tributary/internal/pgurl"
)

//go:embed *.sql
var files embed.FS

// ErrNoDatabase is returned (wrapped) by Up for a pool whose connection
// string named no database: libpq's fallback (the database named after the
// user) is never what a program meant to migrate.
var ErrNoDatabase = pgurl.ErrNoDatabase

// Up applies every pending migration. It is idempotent and safe to run from
// several processes at once: a Postgres advisory lock serialises them. The
// pool's connection string must name its database (or PGDATABASE must).
func Up(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	if err := pgurl.Check(pool.Config().ConnString()); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: locker: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: up: %w", err)
	}
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// versionTable is goose's default table of applied versions.
const versionTable = "goose_db_version"

// PendingError is returned by Check for a database that lacks migrations
// this build needs: never migrated, or migrated by an older build.
type PendingError struct {
	// Files are the missing migrations, e.g. "00001_core.sql", in order.
	Files []string
	// Versions are their goose version numbers, parallel to Files.
	Versions []int64
	// Fresh is true when goose's version table does not exist at all.
	Fresh bool
}

func (e *PendingError) Error() string {
	what := "not applied"
	if e.Fresh {
		what = "not applied (no " + versionTable + " table: never migrated)"
	}
	return fmt.Sprintf("database not migrated: %s %s", strings.Join(e.Files, ", "), what)
}

// Check reports whether every migration of this build is applied (goose's
// version table): nil, a *PendingError naming the missing ones, or the
// database's own error. It only reads (no table, no lock), so it may run
// while another process migrates.
func Check(ctx context.Context, pool *pgxpool.Pool) error {
	want, err := versions()
	if err != nil {
		return err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return fmt.Errorf("migrations: check: %w", err)
	}
	applied := map[int64]bool{}
	if exists {
		// The latest row of a version says whether it is applied (goose's
		// older API recorded a down as a row with is_applied false).
		rows, err := pool.Query(ctx, `SELECT DISTINCT ON (version_id) version_id, is_applied
			FROM `+versionTable+` ORDER BY version_id, id DESC`)
		if err != nil {
			return fmt.Errorf("migrations: check: %w", err)
		}
		var v int64
		var ok bool
		_, err = pgx.ForEachRow(rows, []any{&v, &ok}, func() error {
			applied[v] = ok
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrations: check: %w", err)
		}
	}
	pe := &PendingError{Fresh: !exists}
	for _, m := range want {
		if !applied[m.version] {
			pe.Files = append(pe.Files, m.file)
			pe.Versions = append(pe.Versions, m.version)
		}
	}
	if len(pe.Files) > 0 {
		return pe
	}
	return nil
}

type migration struct {
	file    string
	version int64
}

// versions lists the embedded migrations in version order.
func versions() ([]migration, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []migration
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", n, err)
		}
		out = append(out, migration{file: n, version: v})
	}
	slices.SortFunc(out, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return out, nil
}
