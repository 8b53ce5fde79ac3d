// Package deliverylog is the delivery log every sink writes, one row per
// outbound attempt (tributary_delivery_attempts), for operators: each sink
// hands a Recorder an Attempt after each attempt.
//
//	log := deliverylog.NewPostgres(pool)
//	_ = log.Record(ctx, deliverylog.Attempt{Pipeline: "doors", Sink: "crm", EventID: id, Outcome: deliverylog.OutcomeSuccess})
package deliverylog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/store"
)

// Outcome classifies an attempt (store.Outcome).
type Outcome = store.Outcome

// The outcomes a sink writes; see store.Outcome.
const (
	OutcomeSuccess     = store.OutcomeSuccess
	OutcomeTransient   = store.OutcomeTransient
	OutcomePermanent   = store.OutcomePermanent
	OutcomeGone        = store.OutcomeGone
	OutcomeDisabled    = store.OutcomeDisabled
	OutcomeCircuitOpen = store.OutcomeCircuitOpen
)

// Outcomes returns every outcome a sink writes to the delivery log.
func Outcomes() []Outcome { return store.Outcomes() }

// Attempt is one row of the delivery log (store.Attempt); it holds no secret.
type Attempt = store.Attempt

// Recorder records attempts. A failing Record is logged by the sink, never
// fails the delivery: the attempt has been made either way.
type Recorder interface {
	Record(ctx context.Context, a Attempt) error
}

// Postgres is the delivery log in table tributary_delivery_attempts. Record
// does not write on the delivery path: it queues the attempt for a writer that
// stores each lot queued in one statement (group commit: a busy sink pays a
// fraction of an insert per attempt); a full queue (QueueSize) makes it wait.
// A crash can lose the queue: log rows of the last moments, never an event.
// Query and Flush see everything recorded before them.
type Postgres struct {
	pool *pgxpool.Pool

	start sync.Once
	queue chan queued
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

// NewPostgres returns the delivery log in pool's (migrated) database.
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
	return store.InsertAttempts(ctx, l.pool, as)
}

// Text makes s storable in a TEXT column, which refuses NUL and invalid
// UTF-8; sinks that keep tables of their own use it too.
func Text(s string) string { return store.Text(s) }

// Filter selects attempts; zero fields match everything.
type Filter = store.AttemptFilter

// Query returns matching attempts, newest first, after writing what is
// still buffered.
func (l *Postgres) Query(ctx context.Context, f Filter) ([]Attempt, error) {
	if err := l.Flush(ctx); err != nil {
		return nil, err
	}
	return Query(ctx, l.pool, f)
}

// Query returns matching attempts from the log in db, newest first. It
// reads what is committed; a Postgres recorder's buffer is not flushed
// (readers in other processes, such as the operator commands, use this).
func Query(ctx context.Context, db store.DB, f Filter) ([]Attempt, error) {
	return store.Attempts(ctx, db, f)
}

// Prune deletes attempts older than age and says how many.
func (l *Postgres) Prune(ctx context.Context, age time.Duration) (int64, error) {
	return store.PruneAttempts(ctx, l.pool, age)
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
