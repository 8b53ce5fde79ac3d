package store

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB runs statements: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// relaxCommit, first in a batch (one implicit transaction), lets its commit
// return before its WAL reaches the disk: for writes a server crash may lose
// without losing an event, such as the delivery log.
const relaxCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// execRelaxed runs one statement after relaxCommit, in one round trip.
func execRelaxed(ctx context.Context, db DB, sql string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(relaxCommit)
	b.Queue(sql, args...)
	return db.SendBatch(ctx, b).Close()
}

// ErrNotFound is returned (wrapped) for a row that does not exist.
var ErrNotFound = errors.New("not found")

// Text makes s storable in a TEXT column, which refuses NUL and invalid
// UTF-8.
func Text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// IgnoreMissingTable turns "relation does not exist" (a database never
// migrated) into nil, for readers that count such a table as empty.
func IgnoreMissingTable(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return nil
	}
	return err
}

// query runs sql and collects its rows with scan; pgx.RowToStructByPos
// fills a row struct in its fields' order.
func query[T any](ctx context.Context, db DB, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// queryOne is query for one row: pgx.ErrNoRows when there is none.
func queryOne[T any](ctx context.Context, db DB, scan pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return pgx.CollectOneRow(rows, scan)
}

// noRows maps pgx.ErrNoRows to ErrNotFound.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
