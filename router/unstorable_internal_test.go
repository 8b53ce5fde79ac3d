package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
)

// TestClassifyUnstorable: only a refusal of the event's content is for
// good; a database that is down, restarting, overloaded, not migrated or
// slow is not, and the source hands the event on again later.
func TestClassifyUnstorable(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("store 1 events: %w", &pgconn.PgError{Code: code, Message: "msg"})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"index row too large", pg("54000"), true},
		{"NUL in jsonb", pg("22P05"), true},
		{"NUL in text", pg("22021"), true},
		{"invalid json", pg("22P02"), true},
		{"NATS max_payload", fmt.Errorf("publish: %w", nats.ErrMaxPayload), true},
		{"connection lost", pg("08006"), false},
		{"server shutting down", pg("57P01"), false},
		{"too many connections", pg("53300"), false},
		{"out of memory", pg("53200"), false},
		{"serialization failure", pg("40001"), false},
		{"table missing", pg("42P01"), false},
		{"raised by a trigger", pg("P0001"), false},
		{"statement cancelled", pg("57014"), false},
		{"connect refused", &pgconn.ConnectError{}, false},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"deadline", context.DeadlineExceeded, false},
		{"NATS timeout", nats.ErrTimeout, false},
	}
	for _, tt := range tests {
		got, ok := classifyUnstorable(tt.err)
		if ok != tt.want {
			t.Errorf("%s: unstorable = %v, want %v", tt.name, ok, tt.want)
		}
		if ok && got.Reason == "" {
			t.Errorf("%s: no reason", tt.name)
		}
	}
}
