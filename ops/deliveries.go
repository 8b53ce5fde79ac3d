package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Attempt is one row of the delivery log (tributary_delivery_attempts).
type Attempt struct {
	ID          int64     `json:"id"`
	Pipeline    string    `json:"pipeline"`
	Sink        string    `json:"sink"`
	Endpoint    string    `json:"endpoint"`
	EventID     string    `json:"event_id"`
	MessageUUID string    `json:"message_uuid"`
	Attempt     int       `json:"attempt"`
	AttemptedAt time.Time `json:"attempted_at"`
	LatencyMS   float64   `json:"latency_ms"`
	StatusCode  int       `json:"status_code"`
	Outcome     string    `json:"outcome"`
	Error       string    `json:"error,omitempty"`
	// ResponseBody is the start of the receiver's answer (event page only).
	ResponseBody string `json:"response_body,omitempty"`
	// RequestHeaders are the headers the attempt sent, as the sink recorded
	// them (credentials already replaced; event page only).
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
}

// AttemptFilter selects attempts; zero fields match everything.
type AttemptFilter struct {
	Pipeline, Sink, Outcome, EventID string
	// Limit caps the result; 50 when zero.
	Limit int
}

// ListAttempts returns the newest attempts first.
func ListAttempts(ctx context.Context, pool *pgxpool.Pool, f AttemptFilter) ([]Attempt, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := pool.Query(ctx, `SELECT id, pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at,
			latency_ms, status_code, outcome, error
		FROM tributary_delivery_attempts
		WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2) AND ($3 = '' OR outcome = $3) AND ($4 = '' OR event_id = $4)
		ORDER BY id DESC LIMIT $5`, f.Pipeline, f.Sink, f.Outcome, f.EventID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.ID, &a.Pipeline, &a.Sink, &a.Endpoint, &a.EventID, &a.MessageUUID, &a.Attempt,
			&a.AttemptedAt, &a.LatencyMS, &a.StatusCode, &a.Outcome, &a.Error); err != nil {
			return nil, fmt.Errorf("delivery log: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
