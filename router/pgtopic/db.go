package pgtopic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the package needs of a connection pool: *pgxpool.Pool.
type DB interface {
	Executor
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Executor runs statements: a pool, or a transaction the caller owns.
type Executor interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// NotifyChannel is the LISTEN/NOTIFY channel; the payload is the topic
// name. A writer that appends to tributary_messages itself notifies it.
const NotifyChannel = "tributary_topics"

// LockClass is the first key of a topic's write lock,
// pg_advisory_xact_lock(LockClass, hashtext(topic)), so it cannot collide
// with an application's own single-key locks. A writer that appends to
// tributary_messages itself takes it first (lockTopic).
const LockClass = 74_837

// lockTopic is the statement that takes a topic's write lock ($1 = LockClass, $2 = the topic).
const lockTopic = `SELECT pg_advisory_xact_lock($1, hashtext($2))`

// row is a stored message.
type row struct {
	key      int64 // the offset, or the queue row's id
	uuid     string
	payload  []byte
	metadata map[string]string
}

// message is r as a message of its own: every handing out gets a copy of
// the metadata (a handler may change it), sized at once.
func (r row) message() *message.Message {
	m := message.NewMessage(r.uuid, r.payload)
	m.Metadata = make(message.Metadata, len(r.metadata))
	maps.Copy(m.Metadata, r.metadata)
	return m
}

// metadataScanner scans a jsonb metadata column (an object of strings, as
// every writer stores it) into a map: pgx would decode it with
// encoding/json's reflection, some twenty allocations a message on the
// delivery path; this reads the usual shape directly and leaves anything
// else (escapes, other value types) to encoding/json.
type metadataScanner struct{ m *map[string]string }

// ScanBytes implements pgtype.BytesScanner; src is the jsonb text.
func (s metadataScanner) ScanBytes(src []byte) error {
	if src == nil {
		*s.m = nil
		return nil
	}
	if m, ok := parseFlatStrings(src); ok {
		*s.m = m
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(src, &m); err != nil {
		return fmt.Errorf("pgtopic: metadata: %w", err)
	}
	*s.m = m
	return nil
}

// parseFlatStrings reads a JSON object whose values are all strings and
// whose keys and values hold no escape; ok is false for anything else.
func parseFlatStrings(b []byte) (m map[string]string, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	m = make(map[string]string, 8)
	if i < len(b) && b[i] == '}' {
		return m, skipSpace(b, i+1) == len(b)
	}
	for {
		k, j, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		v, j, ok := plainString(b, skipSpace(b, i+1))
		if !ok {
			return nil, false
		}
		m[internKey(k)] = string(v)
		i = skipSpace(b, j)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return m, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// keys holds metadata keys seen before (a few dozen names in practice), so
// that a message's keys are not allocated again for each message; it stops
// growing at maxKeys.
var keys = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

const maxKeys = 512

// internKey returns k as a string, the same one each time for a key seen
// before (looking it up allocates nothing).
func internKey(k []byte) string {
	keys.RLock()
	s, ok := keys.m[string(k)]
	keys.RUnlock()
	if ok {
		return s
	}
	s = string(k)
	keys.Lock()
	if len(keys.m) < maxKeys {
		keys.m[s] = s
	}
	keys.Unlock()
	return s
}

// plainString reads the JSON string at b[i] if it has no escape (and no
// control character, which JSON forbids unescaped); next is past it. The
// bytes are b's.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !utf8.Valid(b[i+1 : j]) {
				return nil, 0, false // encoding/json replaces invalid bytes; let it
			}
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanRow reads a row of key, uuid, payload, metadata (pgx.RowToFunc).
func scanRow(rows pgx.CollectableRow) (row, error) {
	var r row
	err := rows.Scan(&r.key, &r.uuid, &r.payload, metadataScanner{&r.metadata})
	return r, err
}

func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// encode splits msgs into the column arrays of a multi-row insert.
func encode(msgs []*message.Message) (uuids []string, payloads [][]byte, metas []map[string]string) {
	for _, m := range msgs {
		uuids = append(uuids, m.UUID)
		p := m.Payload
		if p == nil {
			p = []byte{}
		}
		payloads = append(payloads, p)
		md := map[string]string(m.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		metas = append(metas, md)
	}
	return uuids, payloads, metas
}

// relaxCommit, run in a transaction, makes that transaction's commit return
// without waiting for its WAL record to reach the disk (synchronous_commit =
// off for this transaction only; set_config rather than SET LOCAL, which
// Postgres warns about outside an explicit BEGIN, while a batch without one
// is an implicit transaction all the same).
//
// It is for the writes a crash may lose because losing them can only cause
// a repeat: claims, completions, leases, hand-backs, pruning. A server crash
// loses a suffix of the commits, never one from the middle (the WAL is
// flushed in order, and every synchronous commit flushes everything before
// it), so a lost completion takes every later write with it and the
// messages are delivered again, in order. What must survive — an ingest
// commit a source's ack or a webhook's 2xx depends on — never runs this.
// See docs/benchmarks.md ("Which commits wait for the disk").
const relaxCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// execRelaxed runs one statement in an implicit transaction of its own that
// commits without waiting for the disk (relaxCommit): one round trip.
func execRelaxed(ctx context.Context, db Executor, sql string, args ...any) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	b.Queue(relaxCommit)
	var tag pgconn.CommandTag
	b.Queue(sql, args...).Exec(func(t pgconn.CommandTag) error { tag = t; return nil })
	err := db.SendBatch(ctx, b).Close()
	return tag, err
}

// queryRelaxed is execRelaxed for a statement that returns rows, each
// passed to scan.
func queryRelaxed(ctx context.Context, db Executor, scan func(pgx.Rows) error, sql string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(relaxCommit)
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return db.SendBatch(ctx, b).Close()
}
