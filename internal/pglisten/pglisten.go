// Package pglisten keeps one PostgreSQL LISTEN connection open, for the
// loops that a notification wakes early (the lease elector, the topic
// notifier). Notifications are only ever an optimisation there: whoever
// uses this also polls, so a notification lost while the connection is
// down costs latency, never correctness.
package pglisten

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Run listens on channel until ctx ends. On every connection it runs
// LISTEN, then calls listening (to make up for what was missed while not
// listening), then notified with each notification's payload. A failure
// goes to failed and the connection is opened again after a wait of
// 100 ms, doubling to 5 s, back to 100 ms once LISTEN succeeds again.
// The callbacks run on Run's goroutine.
func Run(ctx context.Context, cfg *pgx.ConnConfig, channel string, listening func(), notified func(payload string), failed func(error)) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := once(ctx, cfg, channel, func() {
			wait = 100 * time.Millisecond
			listening()
		}, notified)
		if ctx.Err() != nil {
			return
		}
		failed(err)
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// once holds one connection until it fails or ctx ends.
func once(ctx context.Context, cfg *pgx.ConnConfig, channel string, listening func(), notified func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notified(n.Payload)
	}
}
