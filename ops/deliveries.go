package ops

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// Attempt is one row of the delivery log (tributary_delivery_attempts) as
// the operator commands print it and the pages show it: deliverylog.Attempt
// with the time and latency spelled for JSON readers.
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
	got, err := deliverylog.Query(ctx, pool, deliverylog.Filter{
		Pipeline: f.Pipeline, Sink: f.Sink, EventID: f.EventID, Outcome: deliverylog.Outcome(f.Outcome), Limit: f.Limit,
	})
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, len(got))
	for i, a := range got {
		out[i] = Attempt{
			ID: a.ID, Pipeline: a.Pipeline, Sink: a.Sink, Endpoint: a.Endpoint, EventID: a.EventID,
			MessageUUID: a.MessageUUID, Attempt: a.Attempt, AttemptedAt: a.Time,
			LatencyMS: float64(a.Latency) / float64(time.Millisecond), StatusCode: a.StatusCode,
			Outcome: string(a.Outcome), Error: a.Error,
		}
	}
	return out, nil
}
