package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Message is one row of tributary_messages: an event stored in a pipeline's
// topic (package router/pgtopic appends and claims them).
type Message struct {
	Topic  string
	Offset int64
	UUID   string
	// Payload and Metadata are as stored; a search fills Metadata with the
	// event id, source and type only, and no Payload.
	Payload   []byte
	Metadata  map[string]string
	CreatedAt time.Time
}

// The metadata keys a search reads (tributary.MetaEventID, MetaSource and
// MetaEventType; the indexes of migration 00015 are on them).
const (
	metaEventID   = "tributary_event_id"
	metaSource    = "tributary_source"
	metaEventType = "tributary_event_type"
)

// GetMessage reads the message at offset of topic; ErrNotFound (wrapped)
// when there is none.
func GetMessage(ctx context.Context, db DB, topic string, offset int64) (Message, error) {
	m := Message{Topic: topic, Offset: offset}
	var meta []byte
	err := db.QueryRow(ctx, `SELECT uuid, payload, metadata, created_at FROM tributary_messages WHERE topic = $1 AND "offset" = $2`,
		topic, offset).Scan(&m.UUID, &m.Payload, &meta, &m.CreatedAt)
	if err != nil {
		return m, fmt.Errorf("message %s/%d: %w", topic, offset, noRows(err))
	}
	if m.Metadata, err = decodeMetadata(meta); err != nil {
		return m, fmt.Errorf("message %s/%d: %w", topic, offset, err)
	}
	return m, nil
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

// MessageSearch selects stored messages. Zero fields match everything.
type MessageSearch struct {
	// Topics limits the search to these topics. Required: a search across
	// topics cannot read one index in offset order.
	Topics  []string
	EventID string
	Source  string
	Type    string
	// From and Until bound created_at (From inclusive, Until exclusive).
	From, Until time.Time
	// Before is the keyset cursor: only offsets below it (0: from the newest).
	Before int64
	// Limit caps a page; 50 when zero, at most 500.
	Limit int
}

// SearchMessages returns one page of matching messages, newest first (their
// Metadata holds the event id, source and type; no Payload), and the cursor
// of the next page (0 when this is the last). Each filter is its own SQL
// condition (never an "empty or equal" test, which a generic plan cannot
// serve from an index): event id uses tributary_messages_event_id_idx,
// source and type (topic, key, offset) indexes, a time range (topic,
// created_at) or the primary key read backwards from Until's offset, and no
// filter the primary key (topic, offset) read backwards.
func SearchMessages(ctx context.Context, db DB, s MessageSearch) ([]Message, int64, error) {
	if len(s.Topics) == 0 {
		return nil, 0, errors.New("event search: no pipeline selected")
	}
	if s.Limit <= 0 {
		s.Limit = 50
	}
	s.Limit = min(s.Limit, 500)
	sql, args := searchQuery(s)
	out, err := query(ctx, db, scanSummary, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("event search: %w", err)
	}
	var next int64
	if len(out) > s.Limit {
		out = out[:s.Limit]
		next = out[len(out)-1].Offset
	}
	return out, next, nil
}

// summaryColumns are a search's row: the message with its event id, source
// and type only (scanSummary).
const summaryColumns = `topic, "offset", uuid, COALESCE(metadata->>'tributary_event_id', ''),
	COALESCE(metadata->>'tributary_source', ''), COALESCE(metadata->>'tributary_event_type', ''), created_at`

func scanSummary(row pgx.CollectableRow) (Message, error) {
	var m Message
	var id, source, typ string
	err := row.Scan(&m.Topic, &m.Offset, &m.UUID, &id, &source, &typ, &m.CreatedAt)
	m.Metadata = map[string]string{metaEventID: id, metaSource: source, metaEventType: typ}
	return m, err
}

// maxIndexedType is the longest event type the topic's type index holds.
const maxIndexedType = 1024

// searchQuery builds the search's SQL for s (Limit set): one page and one
// row more, to know whether another page follows.
func searchQuery(s MessageSearch) (string, []any) {
	// One topic is an equality, not "= ANY": only then can Postgres read an
	// index in offset order and stop at the LIMIT (with ANY it sorts every
	// match: 360 ms instead of 0.2 on a million events).
	args := []any{s.Topics}
	where := []string{`topic = ANY($1)`}
	if len(s.Topics) == 1 {
		args, where = []any{s.Topics[0]}, []string{`topic = $1`}
	}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if s.EventID != "" {
		add(`metadata->>'tributary_event_id' = $?`, s.EventID)
	}
	if s.Source != "" {
		add(`metadata->>'tributary_source' = $?`, s.Source)
	}
	if s.Type != "" {
		add(`metadata->>'tributary_event_type' = $?`, s.Type)
		if len(s.Type) <= maxIndexedType {
			// The type index leaves out longer types (migration 00018):
			// the same condition, word for word, lets the planner use it.
			where = append(where, `octet_length(metadata->>'tributary_event_type') <= `+strconv.Itoa(maxIndexedType))
		}
	}
	if !s.From.IsZero() {
		add(`created_at >= $?`, s.From)
	}
	if !s.Until.IsZero() {
		add(`created_at < $?`, s.Until)
		if len(s.Topics) == 1 {
			// Matches lie far from the newest offset, and the planner,
			// not knowing that offsets follow created_at, would walk the
			// primary key back to them (360 ms on a million events, 3 days
			// back). So start the walk at the first offset stored a minute
			// after Until (found on the created_at index): offsets follow
			// created_at but for writers that waited on the topic lock, far
			// less than a minute. The created_at condition stays exact.
			add(`"offset" < COALESCE((SELECT "offset" FROM tributary_messages WHERE topic = $1 AND created_at >= $?
				ORDER BY created_at LIMIT 1), 9223372036854775807)`, s.Until.Add(time.Minute))
		}
	}
	if s.Before > 0 {
		add(`"offset" < $?`, s.Before)
	}
	args = append(args, s.Limit+1)
	return `SELECT ` + summaryColumns + ` FROM tributary_messages WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY "offset" DESC LIMIT $` + strconv.Itoa(len(args)), args
}

// MaxFailedSince caps FailedSince.
const MaxFailedSince = 1000

// FailedSince returns the messages of topic whose latest attempt at sink
// of pipeline since the given time did not succeed, oldest first, at most
// MaxFailedSince (Metadata as a search's). It reads the sink's attempts
// since then on (pipeline, sink, attempted_at) and finds the topic rows by
// event id. The time bound is written as a row comparison, which only that
// index can serve: given "attempted_at >=", the planner preferred the time
// index and filtered every sink's attempts of the day (150 ms on a
// million). Sorting uuids byte-wise (COLLATE "C") is what DISTINCT ON
// needs, faster.
func FailedSince(ctx context.Context, db DB, topic, pipeline, sink string, since time.Time) ([]Message, error) {
	out, err := query(ctx, db, scanSummary, `
		WITH last AS (
			SELECT DISTINCT ON (message_uuid COLLATE "C") message_uuid, event_id, outcome, id
			FROM tributary_delivery_attempts
			WHERE pipeline = $1 AND sink = $2 AND (pipeline, sink, attempted_at) >= ($1, $2, $3)
			ORDER BY message_uuid COLLATE "C", id DESC),
		failed AS (SELECT message_uuid, event_id, id FROM last WHERE outcome <> $6 ORDER BY id LIMIT $5)
		SELECT `+summaryColumns+` FROM failed f JOIN tributary_messages m
		  ON m.metadata->>'tributary_event_id' = f.event_id AND m.uuid = f.message_uuid AND m.topic = $4
		ORDER BY f.id`, pipeline, sink, since, topic, MaxFailedSince, OutcomeSuccess)
	if err != nil {
		return nil, fmt.Errorf("failed attempts of %s/%s: %w", pipeline, sink, err)
	}
	return out, nil
}

// TopicLag counts the messages of topic that consumer group has not
// finished: those past its position (every message, before the group
// exists) and those in its claims. It reads an index range from the
// position, not the whole topic.
func TopicLag(ctx context.Context, db DB, topic, group string) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM tributary_messages WHERE topic = $1 AND "offset" >
			COALESCE((SELECT position FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2), 0))
		     + (SELECT COALESCE(sum(cardinality(offsets)), 0) FROM tributary_claims WHERE topic = $1 AND consumer_group = $2)`,
		topic, group).Scan(&n)
	return n, err
}

// QueueDepth counts the messages waiting in a delayed queue topic
// (tributary_queue; a sink's retry topic).
func QueueDepth(ctx context.Context, db DB, topic string) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM tributary_queue WHERE topic = $1`, topic).Scan(&n)
	return n, err
}

// MessageEventIDs lists the event ids (tributary.MetaEventID) stored in
// topic, in order, repeats included: what a pipeline's test looks at.
func MessageEventIDs(ctx context.Context, db DB, topic string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT COALESCE(metadata->>'tributary_event_id', '')
		FROM tributary_messages WHERE topic = $1 ORDER BY "offset"`, topic)
	if err != nil {
		return nil, fmt.Errorf("event ids of %s: %w", topic, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("event ids of %s: %w", topic, err)
	}
	return ids, nil
}

// CountMessages counts the messages of topic, only those holding one of
// eventIDs when it is not nil.
func CountMessages(ctx context.Context, db DB, topic string, eventIDs []string) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM tributary_messages WHERE topic = $1
		AND ($2::text[] IS NULL OR metadata->>'tributary_event_id' = ANY($2))`, topic, eventIDs).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count messages of %s: %w", topic, err)
	}
	return n, nil
}

// ConsumerDone reports whether consumer group is done with every message
// of topic: it exists, its position is past the last message and it holds
// no claim. A delivery the sink has seen but whose claim is not completed
// yet is redelivered after a crash (at least once).
func ConsumerDone(ctx context.Context, db DB, topic, group string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2)
		AND NOT EXISTS (SELECT 1 FROM tributary_messages m JOIN tributary_consumers c ON c.topic = m.topic AND c.consumer_group = $2
			WHERE m.topic = $1 AND m."offset" > c.position)
		AND NOT EXISTS (SELECT 1 FROM tributary_claims WHERE topic = $1 AND consumer_group = $2)`, topic, group).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("consumer %s of %s: %w", group, topic, err)
	}
	return ok, nil
}

// MessageRef names a stored message from a row that recorded it (a delivery
// attempt, a poison record): its topic, event id and uuid.
type MessageRef struct{ Topic, EventID, UUID string }

// MessageOffsets finds refs in their topics in one statement and returns
// the offset of each still stored, by its index in refs (an event is pruned
// once every sink is done with it and its retention passed). The event id
// narrows the lookup to tributary_messages_event_id_idx; the uuid picks the
// very message (two messages may carry one event id).
func MessageOffsets(ctx context.Context, db DB, refs []MessageRef) (map[int]int64, error) {
	out := map[int]int64{}
	if len(refs) == 0 {
		return out, nil
	}
	topics, ids, uuids := make([]string, len(refs)), make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		topics[i], ids[i], uuids[i] = r.Topic, r.EventID, r.UUID
	}
	rows, err := db.Query(ctx, `
		SELECT r.i, m."offset"
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS r(topic, event_id, uuid, i)
		JOIN tributary_messages m ON m.metadata->>'tributary_event_id' = r.event_id AND m.uuid = r.uuid AND m.topic = r.topic`,
		topics, ids, uuids)
	if err != nil {
		return nil, fmt.Errorf("message offsets: %w", err)
	}
	var i, offset int64
	_, err = pgx.ForEachRow(rows, []any{&i, &offset}, func() error {
		out[int(i-1)] = offset
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("message offsets: %w", err)
	}
	return out, nil
}
