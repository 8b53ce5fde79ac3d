package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcome classifies an attempt in the delivery log.
type Outcome string

const (
	// OutcomeSuccess: the receiver answered 2xx.
	OutcomeSuccess Outcome = "success"
	// OutcomeTransient: 3xx, 408, 429, 5xx, a timeout or a connection error; retried.
	OutcomeTransient Outcome = "transient"
	// OutcomePermanent: another 4xx, or an address the SSRF guard refused; poisoned.
	OutcomePermanent Outcome = "permanent"
	// OutcomeGone: the receiver answered 410; the endpoint is now disabled.
	OutcomeGone Outcome = "gone"
	// OutcomeDisabled: not sent, the endpoint is disabled.
	OutcomeDisabled Outcome = "disabled"
	// OutcomeCircuitOpen: not sent, the breaker is open.
	OutcomeCircuitOpen Outcome = "circuit_open"
)

// Outcomes returns every outcome a sink writes to the delivery log, in the
// order above: the webhook sink's and, with the same meanings, the
// cmd/tributary http sink's (success, transient, permanent). `tributary
// deliveries list --outcome` accepts exactly these.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSuccess, OutcomeTransient, OutcomePermanent, OutcomeGone, OutcomeDisabled, OutcomeCircuitOpen}
}

// Attempt is one row of the delivery log. It holds no secret: the endpoint is
// redacted and error and body are scrubbed of the configured secrets.
type Attempt struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline"`
	Sink     string    `json:"sink"`
	// Endpoint is the URL without credentials, query values replaced.
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
	// ResponseBody is the start of the response body (Config.MaxLoggedBody).
	ResponseBody string `json:"response_body,omitempty"`
}

// DeliveryLog records attempts. A failing Record is logged, never fails the
// delivery: the request has been made either way.
type DeliveryLog interface {
	Record(ctx context.Context, a Attempt) error
}

// PostgresLog is the delivery log in table tributary_delivery_attempts.
type PostgresLog struct {
	pool *pgxpool.Pool
}

// NewPostgresLog returns the delivery log in pool's database (migrated with
// package migrations).
func NewPostgresLog(pool *pgxpool.Pool) *PostgresLog { return &PostgresLog{pool: pool} }

// Record implements DeliveryLog. It writes outside any message transaction:
// an attempt happened even if the message's delivery is later rolled back.
func (l *PostgresLog) Record(ctx context.Context, a Attempt) error {
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	_, err := l.pool.Exec(ctx, `
		INSERT INTO tributary_delivery_attempts
			(pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms,
			 status_code, outcome, error, response_body)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.Pipeline, a.Sink, a.Endpoint, a.EventID, a.MessageUUID, a.Attempt, a.Time,
		float64(a.Latency)/float64(time.Millisecond), a.StatusCode, string(a.Outcome), text(a.Error), text(a.ResponseBody))
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
func (l *PostgresLog) Query(ctx context.Context, f Filter) ([]Attempt, error) {
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
func (l *PostgresLog) Prune(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := l.pool.Exec(ctx, `DELETE FROM tributary_delivery_attempts WHERE attempted_at < now() - make_interval(secs => $1)`,
		age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delivery log: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}
