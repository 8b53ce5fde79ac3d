package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Resend is one row of tributary_resends: a resend asked for on the console.
type Resend struct {
	ID          int64     `json:"id"`
	Pipeline    string    `json:"pipeline"`
	Sink        string    `json:"sink"`
	EventID     string    `json:"event_id"`
	MessageUUID string    `json:"message_uuid"`
	Offset      int64     `json:"offset"`
	BulkID      string    `json:"bulk_id,omitempty"`
	By          string    `json:"requested_by"`
	At          time.Time `json:"requested_at"`
}

// InsertResend records r (its ID and At are the table's).
func InsertResend(ctx context.Context, db DB, r Resend) error {
	if _, err := db.Exec(ctx, `INSERT INTO tributary_resends (pipeline, sink, event_id, message_uuid, topic_offset, bulk_id, requested_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Pipeline, r.Sink, r.EventID, r.MessageUUID, r.Offset, r.BulkID, r.By); err != nil {
		return fmt.Errorf("record resend: %w", err)
	}
	return nil
}

// ResendsOfMessage returns the resends of message uuid, newest first, at most 100.
func ResendsOfMessage(ctx context.Context, db DB, uuid string) ([]Resend, error) {
	out, err := query(ctx, db, pgx.RowToStructByPos[Resend], `SELECT id, pipeline, sink, event_id, message_uuid, topic_offset,
		bulk_id, requested_by, requested_at FROM tributary_resends WHERE message_uuid = $1 ORDER BY id DESC LIMIT 100`, uuid)
	if err != nil {
		return nil, fmt.Errorf("resends of message %s: %w", uuid, err)
	}
	return out, nil
}
