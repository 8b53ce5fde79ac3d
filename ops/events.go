package ops

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/tributary-dev/tributary/store"
)

// ErrEventNotFound is returned for an event that is not (or no longer) in
// its pipeline's topic.
var ErrEventNotFound = errors.New("event not found")

// EventFilter selects stored events as store.MessageSearch does, with the
// pipelines (required) in place of their topics. Zero fields match everything.
type EventFilter struct {
	Pipelines   []string
	EventID     string
	Source      string
	Type        string
	From, Until time.Time
	Before      int64
	Limit       int
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
// cursor of the next page (0 when this is the last); see
// store.SearchMessages for the indexes each filter uses.
func SearchEvents(ctx context.Context, pool *pgxpool.Pool, f EventFilter) ([]EventSummary, int64, error) {
	topics := make([]string, len(f.Pipelines))
	for i, p := range f.Pipelines {
		topics[i] = router.Topic(p)
	}
	msgs, next, err := store.SearchMessages(ctx, pool, store.MessageSearch{
		Topics: topics, EventID: f.EventID, Source: f.Source, Type: f.Type,
		From: f.From, Until: f.Until, Before: f.Before, Limit: f.Limit,
	})
	return summaries(msgs), next, err
}

// summaries are the search rows of msgs.
func summaries(msgs []store.Message) []EventSummary {
	out := make([]EventSummary, len(msgs))
	for i, m := range msgs {
		out[i] = summary(m)
	}
	return out
}

// summary is the search row of m.
func summary(m store.Message) EventSummary {
	return EventSummary{
		Pipeline: strings.TrimPrefix(m.Topic, "tributary."), Offset: m.Offset, UUID: m.UUID, CreatedAt: m.CreatedAt,
		EventID: m.Metadata[tributary.MetaEventID], Source: m.Metadata[tributary.MetaSource], Type: m.Metadata[tributary.MetaEventType],
	}
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
	Attempts []store.Attempt
	Resends  []store.Resend
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
	m, err := store.GetMessage(ctx, pool, router.Topic(pipeline), offset)
	if errors.Is(err, store.ErrNotFound) {
		err = ErrEventNotFound
	}
	if err != nil {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
	}
	e.EventSummary = summary(m)
	e.Payload, e.Metadata = m.Payload, m.Metadata
	if e.EventID != "" {
		if e.DedupUntil, err = store.DedupExpiry(ctx, pool, pipeline, tributary.DedupKey(e.EventID)); err != nil {
			return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
		}
	}
	if e.SeenBy, err = seenBy(ctx, pool, pipeline, e.EventID, e.Source); err != nil {
		return e, fmt.Errorf("event %s/%d: %w", pipeline, offset, err)
	}
	if e.Attempts, err = store.AttemptsOfMessage(ctx, pool, pipeline, e.UUID); err != nil {
		return e, err
	}
	if e.Resends, err = store.ResendsOfMessage(ctx, pool, e.UUID); err != nil {
		return e, err
	}
	return e, nil
}

// seenBy reads the dedup hits of an event id and adds the stored copy's
// source.
func seenBy(ctx context.Context, pool *pgxpool.Pool, pipeline, eventID, storedFrom string) ([]Sighting, error) {
	out := []Sighting{{Source: storedFrom, Times: 1, Stored: true}}
	if eventID == "" {
		return out, nil
	}
	hits, err := store.DedupHits(ctx, pool, pipeline, tributary.DedupKey(eventID))
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		if h.Source == storedFrom {
			out[0].Times += h.Hits
			out[0].LastHit = h.LastHit
			continue
		}
		out = append(out, Sighting{Source: h.Source, Times: h.Hits, LastHit: h.LastHit})
	}
	return out, nil
}

// Resend puts the stored event at offset of pipeline's topic into sink's
// retry queue, due now, with a fresh attempt count (as a poison replay does:
// only that sink gets it again), and records who asked, in one transaction.
func Resend(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, offset int64, by, bulkID string) error {
	return resend(ctx, pool, pipeline, sink, []int64{offset}, by, bulkID)
}

// resend resends the events at offsets to sink in one transaction.
func resend(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, offsets []int64, by, bulkID string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("resend to %s/%s: %w", pipeline, sink, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, offset := range offsets {
		if err := resendIn(ctx, tx, pipeline, sink, offset, by, bulkID); err != nil {
			return fmt.Errorf("resend %s/%d to %s: %w", pipeline, offset, sink, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("resend to %s/%s: %w", pipeline, sink, err)
	}
	return nil
}

func resendIn(ctx context.Context, tx pgx.Tx, pipeline, sink string, offset int64, by, bulkID string) error {
	m, err := store.GetMessage(ctx, tx, router.Topic(pipeline), offset)
	if errors.Is(err, store.ErrNotFound) {
		return ErrEventNotFound
	}
	if err != nil {
		return err
	}
	msg := message.NewMessage(m.UUID, m.Payload)
	for k, v := range m.Metadata {
		msg.Metadata.Set(k, v)
	}
	for _, k := range []string{middleware.MetaAttempts, middleware.MetaFirstFailure, middleware.MetaLastFailure, middleware.MetaLastError} {
		delete(msg.Metadata, k)
	}
	msg.Metadata.Set("tributary_resent_at", time.Now().UTC().Format(time.RFC3339))
	delay.Message(msg, delay.For(0))
	if err := pgtopic.NewQueuePublisher(tx).Publish(router.RetryTopic(pipeline, sink), msg); err != nil {
		return err
	}
	return store.InsertResend(ctx, tx, store.Resend{Pipeline: pipeline, Sink: sink, EventID: m.Metadata[tributary.MetaEventID],
		MessageUUID: m.UUID, Offset: offset, BulkID: bulkID, By: by})
}

// MaxBulkResend caps one bulk resend; run it again for the rest.
const MaxBulkResend = store.MaxFailedSince

// FailedSince returns the events whose latest attempt at sink since the
// given time did not succeed, oldest first, at most MaxBulkResend: what a
// bulk resend would send (store.FailedSince).
func FailedSince(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, since time.Time) ([]EventSummary, error) {
	msgs, err := store.FailedSince(ctx, pool, router.Topic(pipeline), pipeline, sink, since)
	return summaries(msgs), err
}

// BulkResend resends to sink every event FailedSince returns, in one
// transaction, each recorded with bulkID; it returns how many.
func BulkResend(ctx context.Context, pool *pgxpool.Pool, pipeline, sink string, since time.Time, by, bulkID string) (int, error) {
	events, err := FailedSince(ctx, pool, pipeline, sink, since)
	if err != nil {
		return 0, err
	}
	offsets := make([]int64, len(events))
	for i, e := range events {
		offsets[i] = e.Offset
	}
	if err := resend(ctx, pool, pipeline, sink, offsets, by, bulkID); err != nil {
		return 0, err
	}
	return len(events), nil
}

// messageRef names a stored message from a row that recorded it: a
// delivery attempt or a poison record.
type messageRef struct{ Pipeline, EventID, UUID string }

// attemptRefs are the messages of attempts.
func attemptRefs(attempts []store.Attempt) []messageRef {
	refs := make([]messageRef, len(attempts))
	for i, at := range attempts {
		refs[i] = messageRef{Pipeline: at.Pipeline, EventID: at.EventID, UUID: at.MessageUUID}
	}
	return refs
}
