package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outcome classifies a delivery attempt. Outcomes lists every value; a sink
// writes no other, so operators can filter on them (`tributary deliveries
// list --outcome`) and the admin pages can colour them.
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

// Outcomes returns every outcome, in the order above: every sink writes the
// first three; the webhook sink (endpoint state, a breaker) also the others.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSuccess, OutcomeTransient, OutcomePermanent, OutcomeGone, OutcomeDisabled, OutcomeCircuitOpen}
}

// Attempt is one row of tributary_delivery_attempts, the delivery log: what
// a sink records (package deliverylog) and what the operator commands and
// pages show. It must hold no secret: sinks redact the endpoint and scrub
// error and body before recording. In JSON the latency is latency_ms.
type Attempt struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"attempted_at"`
	Pipeline string    `json:"pipeline"`
	Sink     string    `json:"sink"`
	// Endpoint is where the attempt went, without credentials or query values.
	Endpoint    string `json:"endpoint"`
	EventID     string `json:"event_id"`
	MessageUUID string `json:"message_uuid"`
	// Attempt is the delivery round: 1 + the failed rounds before it
	// (middleware.Attempts); in-process retries share their round's number.
	Attempt    int           `json:"attempt"`
	Latency    time.Duration `json:"-"`
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

// LatencyMS is the latency in milliseconds, as the table keeps it.
func (a Attempt) LatencyMS() float64 { return float64(a.Latency) / float64(time.Millisecond) }

// MarshalJSON writes the latency as latency_ms.
func (a Attempt) MarshalJSON() ([]byte, error) {
	type plain Attempt
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(a), a.LatencyMS()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Attempt) UnmarshalJSON(b []byte) error {
	type plain Attempt
	var v struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Attempt(v.plain)
	a.Latency = time.Duration(v.LatencyMS * float64(time.Millisecond))
	return nil
}

// InsertAttempts stores attempts in one statement (their IDs are ignored),
// text through Text: a receiver's answer may hold NUL or invalid UTF-8. Its
// commit does not wait for the disk (relaxCommit): a server crash may lose
// the last attempts logged, never an event.
func InsertAttempts(ctx context.Context, db DB, as []Attempt) error {
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
		latencies[i] = a.LatencyMS()
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
	err := execRelaxed(ctx, db, `
		INSERT INTO tributary_delivery_attempts
			(pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at, latency_ms,
			 status_code, outcome, error, response_body, request_headers)
		SELECT p, s, e, ev, u, a, t, l, st, o, er, b, h::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
			$7::timestamptz[], $8::float8[], $9::int[], $10::text[], $11::text[], $12::text[], $13::text[])
			AS x(p, s, e, ev, u, a, t, l, st, o, er, b, h)`,
		pipelines, sinks, endpoints, events, uuids, attempts, times, latencies, statuses, outcomes, errs, bodies, headers)
	if err != nil {
		return fmt.Errorf("delivery log: record %d attempts: %w", n, err)
	}
	return nil
}

// AttemptFilter selects attempts; zero fields match everything.
type AttemptFilter struct {
	Pipeline string
	Sink     string
	EventID  string
	Outcome  Outcome
	// Since keeps attempts at or after it.
	Since time.Time
	// Limit caps the result; 100 when zero.
	Limit int
}

// Attempts returns the attempts f selects, newest first.
func Attempts(ctx context.Context, db DB, f AttemptFilter) ([]Attempt, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var since any
	if !f.Since.IsZero() {
		since = f.Since
	}
	out, err := query(ctx, db, scanAttempt, `SELECT `+attemptColumns+` FROM tributary_delivery_attempts
		WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2) AND ($3 = '' OR event_id = $3)
		  AND ($4 = '' OR outcome = $4) AND ($5::timestamptz IS NULL OR attempted_at >= $5)
		ORDER BY id DESC LIMIT $6`,
		f.Pipeline, f.Sink, f.EventID, string(f.Outcome), since, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log: query: %w", err)
	}
	return out, nil
}

// AttemptsOfMessage returns every attempt any sink of pipeline made with
// the message uuid (which retries and resends keep), newest first, at most
// 500; on its own statement so that the message_uuid index serves it.
func AttemptsOfMessage(ctx context.Context, db DB, pipeline, uuid string) ([]Attempt, error) {
	out, err := query(ctx, db, scanAttempt, `SELECT `+attemptColumns+` FROM tributary_delivery_attempts
		WHERE message_uuid = $1 AND pipeline = $2 ORDER BY id DESC LIMIT 500`, uuid, pipeline)
	if err != nil {
		return nil, fmt.Errorf("attempts of message %s: %w", uuid, err)
	}
	return out, nil
}

const attemptColumns = `id, attempted_at, pipeline, sink, endpoint, event_id, message_uuid, attempt, latency_ms,
	status_code, outcome, error, response_body, request_headers`

func scanAttempt(row pgx.CollectableRow) (Attempt, error) {
	var a Attempt
	var ms float64
	err := row.Scan(&a.ID, &a.Time, &a.Pipeline, &a.Sink, &a.Endpoint, &a.EventID, &a.MessageUUID,
		&a.Attempt, &ms, &a.StatusCode, &a.Outcome, &a.Error, &a.ResponseBody, &a.RequestHeaders)
	a.Latency = time.Duration(ms * float64(time.Millisecond))
	return a, err
}

// PruneAttempts deletes attempts older than age and says how many.
func PruneAttempts(ctx context.Context, db DB, age time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM tributary_delivery_attempts WHERE attempted_at < now() - make_interval(secs => $1)`,
		age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delivery log: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SinkStats is a sink's delivery attempts over a window of the delivery log.
type SinkStats struct {
	Pipeline string `json:"pipeline"`
	Sink     string `json:"sink"`
	Attempts int64  `json:"attempts"`
	Success  int64  `json:"success"`
	// P50, P95 and P99 are latency percentiles in milliseconds.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	// LastOutcome and LastAt are the newest attempt's.
	LastOutcome string    `json:"last_outcome"`
	LastAt      time.Time `json:"last_at"`
}

// SuccessRate is the share of attempts that succeeded, in percent.
func (s SinkStats) SuccessRate() float64 {
	if s.Attempts == 0 {
		return 0
	}
	return 100 * float64(s.Success) / float64(s.Attempts)
}

// SinkStatsSince aggregates every sink's attempts since the given time. It
// reads the window's attempts on tributary_delivery_attempts_time_idx: its
// cost grows with the window's traffic, not with the log's length. The
// percentiles need the rows grouped by sorting, which sorts names
// byte-wise (COLLATE "C"): cheaper than the database's collation.
func SinkStatsSince(ctx context.Context, db DB, since time.Time) (map[[2]string]SinkStats, error) {
	rows, err := db.Query(ctx, `
		SELECT pipeline COLLATE "C", sink COLLATE "C", count(*), count(*) FILTER (WHERE outcome = $2),
			percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms),
			(array_agg(outcome ORDER BY id DESC))[1], max(attempted_at)
		FROM tributary_delivery_attempts WHERE attempted_at >= $1
		GROUP BY 1, 2`, since, OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("sink stats: %w", err)
	}
	out := map[[2]string]SinkStats{}
	var s SinkStats
	var pct []float64
	_, err = pgx.ForEachRow(rows, []any{&s.Pipeline, &s.Sink, &s.Attempts, &s.Success, &pct, &s.LastOutcome, &s.LastAt}, func() error {
		if len(pct) == 3 {
			s.P50, s.P95, s.P99 = pct[0], pct[1], pct[2]
		}
		out[[2]string{s.Pipeline, s.Sink}] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sink stats: %w", err)
	}
	return out, nil
}

// Bucket is one minute of a sink's attempts.
type Bucket struct {
	T     int64   `json:"t"` // unix seconds of the minute's start
	Count int64   `json:"n"`
	Fail  int64   `json:"fail"`
	P95   float64 `json:"p95"`
}

// SinkSeries is a sink's attempts per minute.
type SinkSeries struct {
	Pipeline string   `json:"pipeline"`
	Sink     string   `json:"sink"`
	Buckets  []Bucket `json:"buckets"`
}

// ThroughputSince returns attempts per minute and their p95 latency, per
// sink, since the given time (same index as SinkStatsSince).
func ThroughputSince(ctx context.Context, db DB, since time.Time) ([]SinkSeries, error) {
	rows, err := db.Query(ctx, `
		SELECT pipeline COLLATE "C", sink COLLATE "C", extract(epoch FROM date_trunc('minute', attempted_at))::bigint AS m, count(*),
			count(*) FILTER (WHERE outcome <> $2), percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
		FROM tributary_delivery_attempts WHERE attempted_at >= $1
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, since, OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	var out []SinkSeries
	var p, sink string
	var b Bucket
	_, err = pgx.ForEachRow(rows, []any{&p, &sink, &b.T, &b.Count, &b.Fail, &b.P95}, func() error {
		if n := len(out); n == 0 || out[n-1].Pipeline != p || out[n-1].Sink != sink {
			out = append(out, SinkSeries{Pipeline: p, Sink: sink})
		}
		out[len(out)-1].Buckets = append(out[len(out)-1].Buckets, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("throughput: %w", err)
	}
	return out, nil
}
