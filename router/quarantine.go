package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/store"
)

// QuarantineRecord is an event the backend refused for good on ingest (see
// IngestQuarantine), as its source handed it on: a row of
// tributary_ingest_quarantine.
type QuarantineRecord = store.Quarantined

// IngestQuarantine lists, shows, replays and purges the events that the
// router set aside on ingest because the backend refuses them for good: a
// NUL character in the id, type or metadata (text and jsonb refuse it), a
// value over a database limit. The router acks such an event, so its
// source moves on (a cursor advances past it, webhookin answers 422); the
// event waits here, with its bytes and the reason, for an operator. Like
// PoisonQueue, it needs only the database.
type IngestQuarantine struct {
	pool *pgxpool.Pool
	// store, when set, stores a replayed event through a backend other than
	// Postgres (JetStreamBackend.IngestQuarantine).
	store func(ctx context.Context, target ingestTarget, item ingestItem) error
}

// NewIngestQuarantine returns the ingest quarantine stored in pool's
// database; Replay stores into the pipeline's Postgres topic.
func NewIngestQuarantine(pool *pgxpool.Pool) *IngestQuarantine { return &IngestQuarantine{pool: pool} }

// QuarantineFilter selects quarantine records; zero fields match everything.
type QuarantineFilter = store.QuarantineFilter

// List returns quarantine records, oldest first.
func (q *IngestQuarantine) List(ctx context.Context, f QuarantineFilter) ([]QuarantineRecord, error) {
	return store.ListQuarantined(ctx, q.pool, f)
}

// Count returns how many records match f.
func (q *IngestQuarantine) Count(ctx context.Context, f QuarantineFilter) (int64, error) {
	return store.CountQuarantined(ctx, q.pool, f)
}

// Get returns one quarantine record.
func (q *IngestQuarantine) Get(ctx context.Context, id int64) (QuarantineRecord, error) {
	return store.GetQuarantined(ctx, q.pool, id)
}

// ErrStillUnstorable is returned by Replay for an event the backend still
// refuses; its record stays.
var ErrStillUnstorable = errors.New("the event still cannot be stored")

// Replay stores a quarantined event into its pipeline's topic as the
// ingest would have (deduped on the same key: an event stored meanwhile is
// not stored twice) and removes the record. With Postgres both happen in
// one transaction. An event the backend still refuses stays, and the error
// wraps ErrStillUnstorable.
func (q *IngestQuarantine) Replay(ctx context.Context, id int64) error {
	if q.store != nil {
		rec, err := q.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := q.store(ctx, quarantinedTarget(rec), quarantinedItem(rec)); err != nil {
			return replayError(id, err)
		}
		if err := store.DeleteQuarantined(ctx, q.pool, id); err != nil {
			return fmt.Errorf("quarantine: replay: %w", err)
		}
		return nil
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("quarantine: replay %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rec, err := store.TakeQuarantined(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("quarantine: replay: %w", err)
	}
	if _, err := ingestPostgres(ctx, tx, quarantinedTarget(rec), []ingestItem{quarantinedItem(rec)}, nil); err != nil {
		return replayError(id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("quarantine: replay %d: %w", id, err)
	}
	return nil
}

func replayError(id int64, err error) error {
	if u, ok := classifyUnstorable(err); ok {
		return fmt.Errorf("quarantine: replay %d: %w: %s", id, ErrStillUnstorable, u.Reason)
	}
	return fmt.Errorf("quarantine: replay %d: %w", id, err)
}

func quarantinedTarget(rec QuarantineRecord) ingestTarget {
	return ingestTarget{topic: Topic(rec.Pipeline), pipeline: rec.Pipeline, ttl: rec.DedupTTL}
}

// quarantinedItem is the event as its ingest prepared it, marked as replayed.
func quarantinedItem(rec QuarantineRecord) ingestItem {
	msg := message.NewMessage(rec.MessageUUID, rec.Payload)
	for k, v := range rec.Metadata {
		msg.Metadata.Set(k, v)
	}
	msg.Metadata.Set("tributary_replayed_at", time.Now().UTC().Format(time.RFC3339))
	return ingestItem{msg: msg, key: rec.DedupKey}
}

// Purge deletes the records matching f and says how many.
func (q *IngestQuarantine) Purge(ctx context.Context, f QuarantineFilter) (int64, error) {
	return store.PurgeQuarantined(ctx, q.pool, f)
}

// pgExecer is what ingest and quarantine statements run on: a pool, a
// transaction or a savepoint.
type pgExecer = store.DB

// quarantine records item, refused for good by target's backend, in the
// ingest quarantine.
func quarantine(ctx context.Context, db pgExecer, target ingestTarget, item ingestItem, why unstorable) error {
	return store.InsertQuarantined(ctx, db, store.Quarantined{
		Pipeline: target.pipeline, Source: item.msg.Metadata.Get(tributary.MetaSource),
		EventID: printable(tributary.EventID(item.msg), 200), MessageUUID: item.msg.UUID,
		Metadata: item.msg.Metadata, Payload: item.msg.Payload, DedupKey: item.key, DedupTTL: target.ttl,
		Reason: why.Reason, SQLState: why.SQLState,
	})
}
