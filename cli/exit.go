package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/migrations"
)

// Exit codes scripts can rely on. They are part of the CLI's contract: add
// new ones, never renumber.
const (
	ExitOK           = 0 // success
	ExitFailure      = 1 // an unexpected runtime failure (see the message / logs)
	ExitUsage        = 2 // bad command line: unknown flag, missing argument, missing --yes
	ExitConfig       = 3 // the pipeline file is invalid (validate / run / webhook test / feed discard)
	ExitDatabase     = 4 // no database configured, unreachable, or not migrated
	ExitNotFound     = 5 // the poison record, pipeline, source or sink does not exist
	ExitCheckFailed  = 6 // a check ran and failed (webhook test)
	ExitUnsupported  = 7 // the component's type does not support the command
	ExitSourceFailed = 8 // run --fail-fast: a source stopped for good (e.g. a feed id the provider does not know)
)

// exitError carries an exit code with the error to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: code, err: err}
}

func codef(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// dbError classifies a database error: a missing table means "not migrated".
func dbError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" {
		return codef(ExitDatabase, "%v (is the database migrated? run `tributary migrate`)", err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return withCode(ExitDatabase, err)
	}
	return withCode(ExitFailure, err)
}

// checkSchema fails with ExitDatabase unless every migration is applied.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	err := migrations.Check(ctx, pool)
	var pe *migrations.PendingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return codef(ExitDatabase, "%v; run `tributary migrate` first, or start with --migrate", err)
	default:
		return codef(ExitDatabase, "checking the database schema: %v", err)
	}
}

// codeOf returns the exit code for an error returned by a command. Errors
// without a code come from the command line parser: usage errors.
func codeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitUsage
}
