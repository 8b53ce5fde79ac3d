package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// ErrEventNotFound is returned for an event that is not (or no longer) in
// its pipeline's topic.
var ErrEventNotFound = errors.New("event not found")

// EventFilter selects stored events of the pipeline topics. Zero fields
// match everything.
type EventFilter struct {
	// Pipelines limits the search to these pipelines' topics. Required: a
	// search across topics cannot read one index in offset order.
	Pipelines []string
	EventID   string
	Source    string
	Type      string
	// From and Until bound created_at (From inclusive, Until exclusive).
	From, Until time.Time
	// Before is the keyset cursor: only offsets below it (0: from the newest).
	Before int64
	// Limit caps a page; 50 when zero, at most 500.
	Limit int
}

// EventSummary is one stored event in a search result.
type EventSummary struct {
	Pipeline  string    `json:"pipeline"`
	Offset    int64     `json:"offset"`
	UUID      string    `json:"uuid"`
	EventID   string    `json:"event_id"`
	Source    string    `json:"source"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

// SearchEvents returns one page of matching events, newest first, and the
// cursor of the next page (0 when this is the last). Each filter is its own
// SQL condition (never an "empty or equal" test, which a generic plan cannot serve
// from an index): event id uses tributary_messages_event_id_idx, source and
// type (topic, key, offset) indexes, a time range (topic, created_at) or the
// primary key read backwards from Until's offset, and no filter the primary
// key (topic, offset) read backwards.
func SearchEvents(ctx context.Context, pool *pgxpool.Pool, f EventFilter) ([]EventSummary, int64, error) {
	if len(f.Pipelines) == 0 {
		return nil, 0, errors.New("event search: no pipeline selected")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	query, args := searchQuery(f)
	rows, err := pool.Query(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("event search: %w", err)
	}
	defer rows.Close()
	var out []EventSummary
	for rows.Next() {
		var e EventSummary
		var topic string
		if err := rows.Scan(&topic, &e.Offset, &e.UUID, &e.EventID, &e.Source, &e.Type, &e.CreatedAt); err != nil {
			return nil, 0, fmt.Errorf("event search: %w", err)
		}
		e.Pipeline = strings.TrimPrefix(topic, "tributary.")
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("event search: %w", err)
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].Offset
	}
	return out, next, nil
}

// searchQuery builds the search's SQL for f (Limit set): one page and one
// row more, to know whether another page follows.
// maxIndexedType is the longest event type the topic's type index holds.
const maxIndexedType = 1024

func searchQuery(f EventFilter) (string, []any) {
	topics := make([]string, len(f.Pipelines))
	for i, p := range f.Pipelines {
		topics[i] = router.Topic(p)
	}
	// One topic is an equality, not "= ANY": only then can Postgres read an
	// index in offset order and stop at the LIMIT (with ANY it sorts every
	// match: 360 ms instead of 0.2 on a million events).
	args := []any{topics}
	where := []string{`topic = ANY($1)`}
	if len(topics) == 1 {
		args, where = []any{topics[0]}, []string{`topic = $1`}
	}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.EventID != "" {
		add(`metadata->>'tributary_event_id' = $?`, f.EventID)
	}
	if f.Source != "" {
		add(`metadata->>'tributary_source' = $?`, f.Source)
	}
	if f.Type != "" {
		add(`metadata->>'tributary_event_type' = $?`, f.Type)
		if len(f.Type) <= maxIndexedType {
			// The type index leaves out longer types (migration 00018):
			// the same condition, word for word, lets the planner use it.
			where = append(where, `octet_length(metadata->>'tributary_event_type') <= `+strconv.Itoa(maxIndexedType))
		}
	}
	if !f.From.IsZero() {
		add(`created_at >= $?`, f.From)
	}
	if !f.Until.IsZero() {
		add(`created_at < $?`, f.Until)
		if len(topics) == 1 {
			// Matches lie far from the newest offset, and the planner,
			// not knowing that offsets follow created_at, would walk the
			// primary key back to them (360 ms on a million events, 3 days
			// back). So start the walk at the first offset stored a minute
			// after Until (found on the created_at index): offsets follow
			// created_at but for writers that waited on the topic lock, far
			// less than a minute. The created_at condition stays exact.
			add(`"offset" < COALESCE((SELECT "offset" FROM tributary_messages WHERE topic = $1 AND created_at >= $?
				ORDER BY created_at LIMIT 1), 9223372036854775807)`, f.Until.Add(time.Minute))
		}
	}
	if f.Before > 0 {
		add(`"offset" < $?`, f.Before)
	}
	args = append(args, f.Limit+1)
	return `SELECT topic, "offset", uuid, COALESCE(metadata->>'tributary_event_id', ''),
			COALESCE(metadata->>'tributary_source', ''), COALESCE(metadata->>'tributary_event_type', ''), created_at
		FROM tributary_messages WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY "offset" DESC LIMIT $` + strconv.Itoa(len(args)), args
}

// Event is one stored event with everything the event page shows. Payload
// and Metadata are as stored: redact before showing them.
type Event struct {
	EventSummary
	Payload  []byte
	Metadata map[string]string
	// DedupUntil is when the pipeline's dedup key for the event id expires
	// (zero: no key held, e.g. expired or dedup off).
	DedupUntil time.Time
	// SeenBy is, per source, how often it handed the event on: the stored
	// event's source once, plus every dedup hit (tributary_dedup_hits).
	SeenBy   []Sighting
	Attempts []Attempt
	Resends  []ResendRecord
}

// Sighting is how often one source handed an event on.
type Sighting struct {
	Source string `json:"source"`
	// Times counts the stored copy (Stored) and the duplicates dropped.
	Times  int64 `json:"times"`
	Stored bool  `json:"stored"`
	// LastHit is the newest duplicate's time (zero: none).
	LastHit time.Time `json:"last_hit"`
}

// GetEvent reads the event at offset of pipeline's topic, its dedup key and
// every attempt any sink made with it (by message uuid, which retries and
// resends keep; newest first, at most 500).
func GetEvent(ctx context.Context, pool *pgxpool.Pool, pipeline string, offset int64) (Event, error) {
	e := Event{EventSummary: EventSummary{Pipeline: pipeline, Offset: offset}}
	var meta []byte
	err := pool.QueryRow(ctx, `SELECT uuid, payload, metadata, created_at FROM tributary_messages WHERE topic = $1 AND "offset" = $2`,
		router.Topic(pipeline), offset).Scan(&e.UUID, &e.Payload, &meta, &e.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, ErrEventNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
	}
	if e.Metadata, err = decodeMetadata(meta); err != nil {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
	}
	e.EventID, e.Source, e.Type = e.Metadata[tributary.MetaEventID], e.Metadata[tributary.MetaSource], e.Metadata[tributary.MetaEventType]
	if e.EventID != "" {
		err := pool.QueryRow(ctx, `SELECT expires_at FROM tributary_dedup WHERE pipeline = $1 AND key = $2 AND expires_at > now()`,
			pipeline, tributary.DedupKey(e.EventID)).Scan(&e.DedupUntil)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return e, fmt.Errorf("event %s/%d: dedup key: %w", pipeline, offset, err)
		}
	}
	if e.SeenBy, err = seenBy(ctx, pool, pipeline, e.EventID, e.Source); err != nil {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
	}
	if e.Attempts, err = attemptsOfMessage(ctx, pool, pipeline, e.UUID); err != nil {
		return e, err
	}
	if e.Resends, err = resendsOfMessage(ctx, pool, e.UUID); err != nil {
		return e, err
	}
	return e, nil
}

// decodeMetadata reads a topic row's metadata: Watermill metadata is a
// string map; any other value is kept as its JSON text.
func decodeMetadata(raw []byte) (map[string]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}

// seenBy reads the dedup hits of an event id (primary key of
// tributary_dedup_hits) and adds the stored copy's source.
func seenBy(ctx context.Context, pool *pgxpool.Pool, pipeline, eventID, storedFrom string) ([]Sighting, error) {
	out := []Sighting{{Source: storedFrom, Times: 1, Stored: true}}
	if eventID == "" {
		return out, nil
	}
	rows, err := pool.Query(ctx, `SELECT source, hits, last_hit FROM tributary_dedup_hits
		WHERE pipeline = $1 AND key = $2 ORDER BY source LIMIT 100`, pipeline, tributary.DedupKey(eventID))
	if err != nil {
		return nil, fmt.Errorf("dedup hits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Sighting
		if err := rows.Scan(&s.Source, &s.Times, &s.LastHit); err != nil {
			return nil, fmt.Errorf("dedup hits: %w", err)
		}
		if s.Source == storedFrom {
			out[0].Times += s.Times
			out[0].LastHit = s.LastHit
			continue
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func attemptsOfMessage(ctx context.Context, pool *pgxpool.Pool, pipeline, uuid string) ([]Attempt, error) {
	rows, err := pool.Query(ctx, `SELECT id, pipeline, sink, endpoint, event_id, message_uuid, attempt, attempted_at,
			latency_ms, status_code, outcome, error, response_body, request_headers
		FROM tributary_delivery_attempts WHERE message_uuid = $1 AND pipeline = $2 ORDER BY id DESC LIMIT 500`, uuid, pipeline)
	if err != nil {
		return nil, fmt.Errorf("attempts of message %s: %w", uuid, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.ID, &a.Pipeline, &a.Sink, &a.Endpoint, &a.EventID, &a.MessageUUID, &a.Attempt,
			&a.AttemptedAt, &a.LatencyMS, &a.StatusCode, &a.Outcome, &a.Error, &a.ResponseBody, &a.RequestHeaders); err != nil {
			return nil, fmt.Errorf("attempts of message %s: %w", uuid, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ResendRecord is one resend asked for on the console (tributary_resends).
type ResendRecord struct {
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

func resendsOfMessage(ctx context.Context, pool *pgxpool.Pool, uuid string) ([]ResendRecord, error) {
	rows, err := pool.Query(ctx, `SELECT id, pipeline, sink, event_id, message_uuid, topic_offset, bulk_id, requested_by, requested_at
		FROM tributary_resends WHERE message_uuid = $1 ORDER BY id DESC LIMIT 100`, uuid)
	if err != nil {
		return nil, fmt.Errorf("resends of message %s: %w", uuid, err)
	}
	defer rows.Close()
	var out []ResendRecord
	for rows.Next() {
		var r ResendRecord
		if err := rows.Scan(&r.ID, &r.Pipeline, &r.Sink, &r.EventID, &r.MessageUUID, &r.Offset, &r.BulkID, &r.By, &r.At); err != nil {
			return nil, fmt.Errorf("resends of message %s: %w", uuid, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Resend puts the stored event at offset of pipeline's topic into sink's
// retry queue, due now, with a fresh attempt count — the way a poison replay
// does, so only that sink gets it again — and records who asked, in one
// transaction.
func Resend(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, offset int64, by, bulkID string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := resendIn(ctx, tx, pipeline, sink, offset, by, bulkID); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
	}
	return nil
}

func resendIn(ctx context.Context, tx pgx.Tx, pipeline, sink string, offset int64, by, bulkID string) error {
	var (
		uuid    string
		payload []byte
		raw     []byte
	)
	err := tx.QueryRow(ctx, `SELECT uuid, payload, metadata FROM tributary_messages WHERE topic = $1 AND "offset" = $2`,
		router.Topic(pipeline), offset).Scan(&uuid, &payload, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, ErrEventNotFound)
	}
	if err != nil {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
	}
	meta, err := decodeMetadata(raw)
	if err != nil {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
	}
	msg := message.NewMessage(uuid, payload)
	for k, v := range meta {
		msg.Metadata.Set(k, v)
	}
	for _, k := range []string{middleware.MetaAttempts, middleware.MetaFirstFailure, middleware.MetaLastFailure, middleware.MetaLastError} {
		delete(msg.Metadata, k)
	}
	msg.Metadata.Set("tributary_resent_at", time.Now().UTC().Format(time.RFC3339))
	delay.Message(msg, delay.For(0))
	if err := pgtopic.NewQueuePublisher(tx).Publish(router.RetryTopic(pipeline, sink), msg); err != nil {
		return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tributary_resends (pipeline, sink, event_id, message_uuid, topic_offset, bulk_id, requested_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, pipeline, sink, meta[tributary.MetaEventID], uuid, offset, bulkID, by); err != nil {
		return fmt.Errorf("resend %s/%d to %s: record: %w", pipeline, offset, sink, err)
	}
	return nil
}

// MaxBulkResend caps one bulk resend; run it again for the rest.
const MaxBulkResend = 1000

// FailedSince returns the events whose latest attempt at sink since the
// given time did not succeed, oldest first, at most MaxBulkResend: what a
// bulk resend would send. It reads the sink's attempts since then on
// (pipeline, sink, attempted_at) and finds the topic rows by event id. The
// time bound is written as a row comparison, which only that index can
// serve: given "attempted_at >=", the planner preferred the time index and
// filtered every sink's attempts of the day (150 ms on a million).
// Sorting uuids byte-wise (COLLATE "C") is what DISTINCT ON needs, faster.
func FailedSince(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, since time.Time) ([]EventSummary, error) {
	rows, err := pool.Query(ctx, `
		WITH last AS (
			SELECT DISTINCT ON (message_uuid COLLATE "C") message_uuid, event_id, outcome, id
			FROM tributary_delivery_attempts
			WHERE pipeline = $1 AND sink = $2 AND (pipeline, sink, attempted_at) >= ($1, $2, $3)
			ORDER BY message_uuid COLLATE "C", id DESC),
		failed AS (SELECT message_uuid, event_id, id FROM last WHERE outcome <> $6 ORDER BY id LIMIT $5)
		SELECT m."offset", m.uuid, COALESCE(m.metadata->>'tributary_event_id', ''), COALESCE(m.metadata->>'tributary_source', ''),
			COALESCE(m.metadata->>'tributary_event_type', ''), m.created_at
		FROM failed f JOIN tributary_messages m
		  ON m.metadata->>'tributary_event_id' = f.event_id AND m.uuid = f.message_uuid AND m.topic = $4
		ORDER BY f.id`, pipeline, sink, since, router.Topic(pipeline), MaxBulkResend, deliverylog.OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("failed attempts of %s/%s: %w", pipeline, sink, err)
	}
	defer rows.Close()
	var out []EventSummary
	for rows.Next() {
		e := EventSummary{Pipeline: pipeline}
		if err := rows.Scan(&e.Offset, &e.UUID, &e.EventID, &e.Source, &e.Type, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("failed attempts of %s/%s: %w", pipeline, sink, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// BulkResend resends to sink every event FailedSince returns, in one
// transaction, each recorded with bulkID; it returns how many.
func BulkResend(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, since time.Time, by, bulkID string) (int, error) {
	events, err := FailedSince(ctx, pool, pipeline, sink, since)
	if err != nil {
		return 0, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("bulk resend to %s/%s: %w", pipeline, sink, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, e := range events {
		if err := resendIn(ctx, tx, pipeline, sink, e.Offset, by, bulkID); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("bulk resend to %s/%s: %w", pipeline, sink, err)
	}
	return len(events), nil
}

// messageRef names a stored message from a row that recorded it: a
// delivery attempt or a poison record.
type messageRef struct{ Pipeline, EventID, UUID string }

// eventOffsets finds where refs are in their pipelines' PostgreSQL topics,
// in one statement: the offset of each ref still stored there (an event is
// pruned Retention after every sink is done with it). A ref the topic no
// longer holds, or never did (a pipeline on NATS JetStream), is absent.
// The event id narrows the lookup to tributary_messages_event_id_idx; the
// uuid picks the very message (two messages may carry one event id).
func eventOffsets(ctx context.Context, pool *pgxpool.Pool, refs []messageRef) (map[messageRef]int64, error) {
	out := map[messageRef]int64{}
	if len(refs) == 0 {
		return out, nil
	}
	topics, ids, uuids := make([]string, len(refs)), make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		topics[i], ids[i], uuids[i] = router.Topic(r.Pipeline), r.EventID, r.UUID
	}
	rows, err := pool.Query(ctx, `
		SELECT r.i, m."offset"
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(topic, event_id, uuid, i)
		JOIN tributary_messages m ON m.metadata->>'tributary_event_id' = r.event_id AND m.uuid = r.uuid AND m.topic = r.topic`,
		topics, ids, uuids)
	if err != nil {
		return nil, fmt.Errorf("event offsets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, offset int64
		if err := rows.Scan(&i, &offset); err != nil {
			return nil, fmt.Errorf("event offsets: %w", err)
		}
		out[refs[i-1]] = offset
	}
	return out, rows.Err()
}
