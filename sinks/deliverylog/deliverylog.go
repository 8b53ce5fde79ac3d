// Package deliverylog is the delivery log every sink writes: one row per
// outbound attempt in table tributary_delivery_attempts (package migrations),
// for operators (`tributary deliveries list`, the admin page). It is shared
// code for sinks, not a sink: each sink builds an Attempt after its attempt
// and hands it to a Recorder.
//
//	log := deliverylog.NewPostgres(pool)
//	_ = log.Record(ctx, deliverylog.Attempt{Pipeline: "doors", Sink: "crm", EventID: id, Outcome: deliverylog.OutcomeSuccess})
package deliverylog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcome classifies an attempt. Sinks may add their own (the webhook sink
// has gone, disabled and circuit_open).
type Outcome string

// Outcomes every sink uses.
const (
	// OutcomeSuccess: the receiver confirmed the delivery.
	OutcomeSuccess Outcome = "success"
	// OutcomeTransient: failed in a way worth retrying; the router retries it.
	OutcomeTransient Outcome = "transient"
	// OutcomePermanent: failed for good; the message is poisoned.
	OutcomePermanent Outcome = "permanent"
)

// Attempt is one row of the delivery log. It must hold no secret: sinks
// redact the endpoint and scrub error and body before recording.
type Attempt struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline"`
	Sink     string    `json:"sink"`
	// Endpoint is where the attempt went, without credentials or query values.
	Endpoint    string `json:"endpoint"`
	EventID     string `json:"event_id"`
	MessageUUID string `json:"message_uuid"`
	// Attempt is the delivery round: 1 + the failed rounds before it
	// (middleware.Attempts); in-process retries share their round's number.
	Attempt    int           `json:"attempt"`
	Latency    time.Duration `json:"latency"`
	StatusCode int           `json:"status_code"`
	Outcome    Outcome       `json:"outcome"`
	Error      string        `json:"error,omitempty"`
	// ResponseBody is the start of the response body, as the sink cut it.
	ResponseBody string `json:"response_body,omitempty"`
}

// Recorder records attempts. A failing Record is logged by the sink, never
// fails the delivery: the attempt has been made either way.
type Recorder interface {
	Record(ctx context.Context, a Attempt) error
}

// Postgres is the delivery log in table tributary_delivery_attempts.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns the delivery log in pool's database (migrated with
// package migrations).
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

// Record implements Recorder. It writes in a statement of its own, outside
// any message transaction: an attempt happened even if the message's
// delivery is later rolled back.
func (l *Postgres) Record(ctx context.Context, a Attempt) error {
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	_, err := l.pool.Exec(ctx, `
		INSERT INTO tributary_delivery_attempts
			(pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms,
			 status_code, outcome, error, response_body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		text(a.Pipeline), text(a.Sink), text(a.Endpoint), text(a.EventID), text(a.MessageUUID), a.Attempt, a.Time,
		float64(a.Latency)/float64(time.Millisecond), a.StatusCode, text(string(a.Outcome)), text(a.Error), text(a.ResponseBody))
	if err != nil {
		return fmt.Errorf("delivery log: record: %w", err)
	}
	return nil
}

// text makes s storable in a TEXT column, which refuses NUL and invalid UTF-8.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Filter selects attempts; zero fields match everything.
type Filter struct {
	Pipeline string
	Sink     string
	EventID  string
	Outcome  Outcome
	// Since keeps attempts at or after it.
	Since time.Time
	// Limit caps the result; 100 when zero.
	Limit int
}

// Query returns matching attempts, newest first.
func (l *Postgres) Query(ctx context.Context, f Filter) ([]Attempt, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var since any
	if !f.Since.IsZero() {
		since = f.Since
	}
	rows, err := l.pool.Query(ctx, `
		SELECT id, attempted_at, pipeline, sink, endpoint, event_id, message_uuid, attempt, latency_ms,
		       status_code, outcome, error, response_body
		FROM tributary_delivery_attempts
		WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2) AND ($3 = '' OR event_id = $3)
		  AND ($4 = '' OR outcome = $4) AND ($5::timestamptz IS NULL OR attempted_at >= $5)
		ORDER BY id DESC LIMIT $6`,
		f.Pipeline, f.Sink, f.EventID, string(f.Outcome), since, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log: query: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var ms float64
		var outcome string
		if err := rows.Scan(&a.ID, &a.Time, &a.Pipeline, &a.Sink, &a.Endpoint, &a.EventID, &a.MessageUUID,
			&a.Attempt, &ms, &a.StatusCode, &outcome, &a.Error, &a.ResponseBody); err != nil {
			return nil, fmt.Errorf("delivery log: query: %w", err)
		}
		a.Latency = time.Duration(ms * float64(time.Millisecond))
		a.Outcome = Outcome(outcome)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery log: query: %w", err)
	}
	return out, nil
}

// Prune deletes attempts older than age and says how many.
func (l *Postgres) Prune(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := l.pool.Exec(ctx, `DELETE FROM tributary_delivery_attempts WHERE attempted_at < now() - make_interval(secs => $1)`,
		age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delivery log: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}
