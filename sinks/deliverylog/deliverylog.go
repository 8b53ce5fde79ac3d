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
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcome classifies an attempt. Outcomes lists every value; a sink writes
// no other, so operators can filter on them (`tributary deliveries list
// --outcome`) and the admin pages can colour them.
type Outcome string

const (
	// OutcomeSuccess: the receiver confirmed the delivery (HTTP 2xx).
	OutcomeSuccess Outcome = "success"
	// OutcomeTransient: failed in a way worth retrying (3xx, 408, 429, 5xx,
	// a timeout, a connection error); the router retries it.
	OutcomeTransient Outcome = "transient"
	// OutcomePermanent: failed for good (another 4xx, an address the SSRF
	// guard refused); the message is poisoned.
	OutcomePermanent Outcome = "permanent"
	// OutcomeGone: the receiver answered 410; the endpoint is now disabled.
	OutcomeGone Outcome = "gone"
	// OutcomeDisabled: not sent, the endpoint is disabled.
	OutcomeDisabled Outcome = "disabled"
	// OutcomeCircuitOpen: not sent, the endpoint's circuit breaker is open.
	OutcomeCircuitOpen Outcome = "circuit_open"
)

// Outcomes returns every outcome a sink writes to the delivery log, in the
// order above. Every sink writes the first three; the webhook sink, which
// keeps endpoint state and a breaker, also the last three.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSuccess, OutcomeTransient, OutcomePermanent, OutcomeGone, OutcomeDisabled, OutcomeCircuitOpen}
}

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
	// RequestHeaders are the headers the attempt sent, credentials already
	// replaced by the sink (signature, token, Authorization …); nil when the
	// sink sends none or records none.
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
}

// Recorder records attempts. A failing Record is logged by the sink, never
// fails the delivery: the attempt has been made either way.
type Recorder interface {
	Record(ctx context.Context, a Attempt) error
}

// Postgres is the delivery log in table tributary_delivery_attempts.
//
// Record does not write on the delivery path: it queues the attempt (up to
// QueueSize) for a writer that stores whatever is queued in one statement,
// then the next lot — group commit, so a busy sink pays a fraction of an
// insert per attempt. A full queue makes Record wait (backpressure, bounded
// by its context). What a crash can lose is the queue's content: log rows of
// the last moments, never an event (the delivery itself is not affected).
// Query and Flush see everything recorded before them.
type Postgres struct {
	pool *pgxpool.Pool

	start sync.Once
	queue chan queued
	// Dropped counts attempts the writer could not store (the database
	// refused the batch twice).
	dropped atomic.Int64
}

// queued is an attempt, or a flush request (done is closed once every
// attempt queued before it is stored).
type queued struct {
	a    Attempt
	done chan error
}

// QueueSize bounds the attempts waiting to be written.
const QueueSize = 10000

// maxWriteBatch bounds one insert.
const maxWriteBatch = 1000

// NewPostgres returns the delivery log in pool's database (migrated with
// package migrations).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool, queue: make(chan queued, QueueSize)}
}

// Record implements Recorder: it queues a for the writer. It writes outside
// any message transaction: an attempt happened even if the message's
// delivery is later rolled back.
func (l *Postgres) Record(ctx context.Context, a Attempt) error {
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	l.start.Do(func() { go l.write() })
	select {
	case l.queue <- queued{a: a}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("delivery log: record: queue full: %w", ctx.Err())
	}
}

// Flush waits until every attempt recorded before it is stored.
func (l *Postgres) Flush(ctx context.Context) error {
	l.start.Do(func() { go l.write() })
	done := make(chan error, 1)
	select {
	case l.queue <- queued{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dropped is how many attempts could not be stored.
func (l *Postgres) Dropped() int64 { return l.dropped.Load() }

// write stores what is queued, batch after batch, for the process's life.
func (l *Postgres) write() {
	for first := range l.queue {
		batch := []queued{first}
	collect:
		for len(batch) < maxWriteBatch {
			select {
			case q := <-l.queue:
				batch = append(batch, q)
			default:
				break collect
			}
		}
		var attempts []Attempt
		for _, q := range batch {
			if q.done == nil {
				attempts = append(attempts, q.a)
			}
		}
		var err error
		if len(attempts) > 0 {
			if err = l.insert(attempts); err != nil {
				err = l.insert(attempts) // once more: a dropped connection
			}
			if err != nil {
				l.dropped.Add(int64(len(attempts)))
			}
		}
		for _, q := range batch {
			if q.done != nil {
				q.done <- err
			}
		}
	}
}

func (l *Postgres) insert(as []Attempt) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := len(as)
	var (
		pipelines, sinks, endpoints, events, uuids, outcomes, errs, bodies = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, statuses = make([]int32, n), make([]int32, n)
		times              = make([]time.Time, n)
		latencies          = make([]float64, n)
		headers            = make([]*string, n) // JSON text; nil: NULL
	)
	for i, a := range as {
		pipelines[i], sinks[i], endpoints[i], events[i] = Text(a.Pipeline), Text(a.Sink), Text(a.Endpoint), Text(a.EventID)
		uuids[i], outcomes[i], errs[i], bodies[i] = Text(a.MessageUUID), Text(string(a.Outcome)), Text(a.Error), Text(a.ResponseBody)
		attempts[i], statuses[i], times[i] = int32(a.Attempt), int32(a.StatusCode), a.Time
		latencies[i] = float64(a.Latency) / float64(time.Millisecond)
		if a.RequestHeaders != nil {
			clean := make(map[string]string, len(a.RequestHeaders))
			for k, v := range a.RequestHeaders {
				clean[Text(k)] = Text(v)
			}
			if b, err := json.Marshal(clean); err == nil {
				h := string(b)
				headers[i] = &h
			}
		}
	}
	// The log only feeds the console and `tributary log`: its commit does
	// not wait for the disk (synchronous_commit off for this transaction
	// only; the batch is one implicit transaction). A server crash may lose
	// the last attempts logged, never an event.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`
		INSERT INTO tributary_delivery_attempts
			(pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms,
			 status_code, outcome, error, response_body, request_headers)
		SELECT p, s, e, ev, u, a, t, l, st, o, er, b, h::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
			$7::timestamptz[], $8::float8[], $9::int[], $10::text[], $11::text[], $12::text[], $13::text[])
			AS x(p, s, e, ev, u, a, t, l, st, o, er, b, h)`,
		pipelines, sinks, endpoints, events, uuids, attempts, times, latencies, statuses, outcomes, errs, bodies, headers)
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("delivery log: record %d attempts: %w", n, err)
	}
	return nil
}

// Text makes s storable in a TEXT column, which refuses NUL and invalid
// UTF-8; sinks that keep tables of their own use it too.
func Text(s string) string {
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

// Query returns matching attempts, newest first, after writing what is
// still buffered.
func (l *Postgres) Query(ctx context.Context, f Filter) ([]Attempt, error) {
	if err := l.Flush(ctx); err != nil {
		return nil, err
	}
	return Query(ctx, l.pool, f)
}

// Querier is what Query reads through: a *pgxpool.Pool, a *pgx.Conn or a
// pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Query returns matching attempts from the log in db, newest first. It
// reads what is committed; a Postgres recorder's buffer is not flushed
// (readers in other processes, such as the operator commands, use this).
func Query(ctx context.Context, db Querier, f Filter) ([]Attempt, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var since any
	if !f.Since.IsZero() {
		since = f.Since
	}
	rows, err := db.Query(ctx, `
		SELECT id, attempted_at, pipeline, sink, endpoint, event_id, message_uuid, attempt, latency_ms,
		       status_code, outcome, error, response_body, request_headers
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
			&a.Attempt, &ms, &a.StatusCode, &outcome, &a.Error, &a.ResponseBody, &a.RequestHeaders); err != nil {
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

// Flush waits, for up to five seconds, until r has stored what was recorded
// so far, if r buffers (as Postgres does); sinks call it when they close.
func Flush(r Recorder) error {
	f, ok := r.(interface{ Flush(context.Context) error })
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.Flush(ctx)
}
