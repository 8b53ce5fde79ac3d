package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgurl"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/store"
)

// ErrNotMigrated is returned by Run when the database lacks Tributary's
// tables: run `tributary migrate` (or migrations.Up) first.
var ErrNotMigrated = errors.New("database is not migrated")

// PostgresBackend keeps topics in PostgreSQL (package pgtopic): a log per
// pipeline read by one consumer group per sink, and a delayed queue per sink
// for retries. Dedup keys are written in the same transaction as the event
// they guard. No transaction is open while a sink delivers: a batch is
// claimed and committed first, and requeues and poison records are committed
// on their own before the message they concern is acked.
type PostgresBackend struct {
	Pool *pgxpool.Pool
	// PollInterval is how often an idle consumer looks for new messages when
	// no notification woke it; 1 s when zero.
	PollInterval time.Duration
	// AckDeadline bounds one delivery (with its in-process retries) before the
	// message is delivered again; 5 min when zero (pgtopic.SubscriberConfig
	// keeps this and the other consumer defaults).
	AckDeadline time.Duration
	// ClaimTTL is how long messages claimed by an instance that died wait
	// before another consumer (or the restarted instance) takes them; 30 s
	// when zero.
	ClaimTTL time.Duration
	// BatchSize is how many messages a sink claims at once (what a crash can
	// repeat, per sink); 100 when zero.
	BatchSize int
	// Retention is how long a message every consumer group is done with
	// stays in its topic (for operators to look at) before maintenance
	// deletes it; 24 h when zero. Messages a group has not finished are
	// never deleted; a group whose sink was removed from every pipeline
	// keeps its topic's messages until its row in tributary_consumers is
	// deleted.
	Retention time.Duration

	pipelines []Pipeline
	logger    watermill.LoggerAdapter

	// drainTimeout is the router's CloseTimeout (pgtopic's default before
	// init).
	drainTimeout time.Duration
	notifier     *pgtopic.Notifier
	startOnce    sync.Once
	stopNotifier context.CancelFunc
}

// Postgres returns the durable backend on pool. The pool needs about two
// connections per sink plus a few for ingest; OpenPool sizes one.
func Postgres(pool *pgxpool.Pool) *PostgresBackend {
	return &PostgresBackend{Pool: pool}
}

// ErrNoDatabase is returned (wrapped) by OpenPool and OpenPoolFor for a URL
// that names no database: an unset DATABASE_URL would otherwise connect to
// whatever database libpq falls back to (the one named after the user).
var ErrNoDatabase = pgurl.ErrNoDatabase

// OpenPool opens a pgx pool sized for a router (at least 32 connections).
// The URL must name its database (or PGDATABASE must): see ErrNoDatabase.
func OpenPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if err := pgurl.Check(url); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("router: database URL: %w", err)
	}
	if cfg.MaxConns < 32 {
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("router: open database: %w", err)
	}
	return pool, nil
}

// start sets the defaults and starts the notifier, once.
func (b *PostgresBackend) start() {
	b.startOnce.Do(func() {
		if b.Retention == 0 {
			b.Retention = 24 * time.Hour
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.stopNotifier = cancel
		b.notifier = pgtopic.NewNotifier(b.Pool.Config().ConnConfig, nil)
		go b.notifier.Run(ctx)
	})
}

func (b *PostgresBackend) init(ctx context.Context, pipelines []Pipeline, logger watermill.LoggerAdapter, closeTimeout time.Duration) error {
	if b.Pool == nil {
		return fmt.Errorf("router: Postgres backend has no pool")
	}
	if b.drainTimeout == 0 {
		b.drainTimeout = closeTimeout
	}
	b.start()
	b.pipelines, b.logger = pipelines, logger
	if err := b.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("router: database: %w", err)
	}
	var ok bool
	if err := b.Pool.QueryRow(ctx, `SELECT to_regclass('tributary_messages') IS NOT NULL
		AND to_regclass('tributary_dedup') IS NOT NULL AND to_regclass('tributary_dedup_hits') IS NOT NULL`).Scan(&ok); err != nil {
		return fmt.Errorf("router: database: %w", err)
	}
	if !ok {
		return fmt.Errorf("router: %w: run `tributary migrate` (or migrations.Up)", ErrNotMigrated)
	}
	// Create each sink's consumer group before anything is ingested, so a sink
	// that starts late still gets every event.
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			if err := store.CreateConsumer(ctx, b.Pool, Topic(p.Name), s.Name); err != nil {
				return fmt.Errorf("router: sink %q: %w", s.Name, err)
			}
			if s.OrderKey == nil {
				if err := store.UnfileLanes(ctx, b.Pool, Topic(p.Name), s.Name); err != nil {
					return fmt.Errorf("router: sink %q: %w", s.Name, err)
				}
			}
		}
	}
	return nil
}

// ingestSet stores a batch in one statement, so in one round trip and one
// implicit transaction: it takes the topic's write lock (before anything
// else: the dedup keys written next cannot deadlock with another instance
// ingesting into the topic), records the new dedup keys (an expired key
// counts as new), appends the messages whose key was new or who have none,
// in batch order, and notifies listeners. It returns the keys it recorded.
const ingestSet = `
WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($1, hashtext($2)) AS held),
input AS MATERIALIZED (
	SELECT k, u, p, m, n FROM unnest($4::text[], $5::text[], $6::bytea[], $7::jsonb[]) WITH ORDINALITY AS t(k, u, p, m, n)),
fresh AS (
	INSERT INTO tributary_dedup (pipeline, key, expires_at)
	SELECT $3, i.k, now() + make_interval(secs => $8) FROM input i, lock WHERE i.k IS NOT NULL
	ON CONFLICT (pipeline, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
	WHERE tributary_dedup.expires_at < now()
	RETURNING key),
ins AS (
	INSERT INTO tributary_messages (topic, uuid, payload, metadata)
	SELECT $2, i.u, i.p, i.m FROM input i, lock
	WHERE i.k IS NULL OR i.k IN (SELECT key FROM fresh)
	ORDER BY i.n
	RETURNING 1)
SELECT (SELECT array_agg(key) FROM fresh),
	(SELECT count(*) FROM (SELECT pg_notify('` + pgtopic.NotifyChannel + `', $2) FROM (SELECT 1 FROM ins LIMIT 1) x) y)`

func (b *PostgresBackend) ingest(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, error) {
	return ingestPostgres(ctx, b.Pool, target, items, b.logger)
}

// ingestEach stores items one by one in one transaction, each in a
// savepoint: an item the database refuses for good is rolled back to its
// savepoint and recorded in the ingest quarantine instead; any other
// failure rolls back everything. So a group is still stored (and
// quarantined) all at once, or not at all.
func (b *PostgresBackend) ingestEach(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, []string, error) {
	tx, err := b.Pool.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("store %d events: %w", len(items), err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	stored, quarantined := make([]bool, len(items)), make([]string, len(items))
	for i, it := range items {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("store event: %w", err)
		}
		s, err := ingestPostgres(ctx, sp, target, items[i:i+1], b.logger)
		if err == nil {
			if err := sp.Commit(ctx); err != nil {
				return nil, nil, fmt.Errorf("store event: %w", err)
			}
			stored[i] = s[0]
			continue
		}
		why, ok := classifyUnstorable(err)
		if !ok {
			return nil, nil, err
		}
		if err := sp.Rollback(ctx); err != nil {
			return nil, nil, fmt.Errorf("store event: %w", err)
		}
		if err := quarantine(ctx, tx, target, it, why); err != nil {
			return nil, nil, err
		}
		quarantined[i] = why.Reason
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, fmt.Errorf("store %d events: %w", len(items), err)
	}
	return stored, quarantined, nil
}

// ingestPostgres stores items on db with one ingestSet statement (and,
// for duplicates, one recordHits); see Backend.ingest.
func ingestPostgres(ctx context.Context, db pgExecer, target ingestTarget, items []ingestItem, logger watermill.LoggerAdapter) ([]bool, error) {
	first := firstOfKey(items)
	var (
		keys     []*string
		uuids    []string
		payloads [][]byte
		metas    []map[string]string
		sent     []int // index in items of each row sent
		// dedup hits: repeats of a key earlier in the batch, then keys held
		hitKeys, hitSources []string
	)
	for i, it := range items {
		if !first[i] {
			hitKeys, hitSources = append(hitKeys, it.key), append(hitSources, it.msg.Metadata.Get(tributary.MetaSource))
			continue
		}
		var key *string
		if it.key != "" {
			key = &it.key
		}
		p := it.msg.Payload
		if p == nil {
			p = []byte{}
		}
		keys, uuids, payloads = append(keys, key), append(uuids, it.msg.UUID), append(payloads, p)
		metas, sent = append(metas, it.msg.Metadata), append(sent, i)
	}
	var fresh []string
	var notified int
	err := db.QueryRow(ctx, ingestSet, pgtopic.LockClass, target.topic, target.pipeline,
		keys, uuids, payloads, metas, target.ttl.Seconds()).Scan(&fresh, &notified)
	if err != nil {
		return nil, fmt.Errorf("store %d events: %w", len(sent), err)
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, k := range fresh {
		isFresh[k] = true
	}
	stored := make([]bool, len(items))
	for _, i := range sent {
		stored[i] = items[i].key == "" || isFresh[items[i].key]
		if !stored[i] {
			hitKeys, hitSources = append(hitKeys, items[i].key), append(hitSources, items[i].msg.Metadata.Get(tributary.MetaSource))
		}
	}
	if len(hitKeys) > 0 {
		// Informational: a failure is logged, never fails the ingest (the
		// events are stored; a redelivery would only add hits).
		if err := store.RecordDedupHits(ctx, db, target.pipeline, hitKeys, hitSources, target.ttl); err != nil && logger != nil {
			logger.Error("Counting dedup hits failed", err, watermill.LogFields{"pipeline": target.pipeline, "hits": len(hitKeys)})
		}
	}
	return stored, nil
}

// Publisher returns a publisher into pipeline topics (each Publish commits
// on its own).
func (b *PostgresBackend) Publisher(watermill.LoggerAdapter) (message.Publisher, error) {
	b.start()
	return pgtopic.NewPublisher(b.Pool), nil
}

// Subscriber returns a subscriber reading pipeline topics as consumer group
// `group`, configured as the router's sinks read them.
func (b *PostgresBackend) Subscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	b.start()
	return b.deliverySubscriber(group, 1, logger)
}

func (b *PostgresBackend) subscriberConfig(group string, concurrency int) pgtopic.SubscriberConfig {
	return pgtopic.SubscriberConfig{
		ConsumerGroup: group,
		MaxInFlight:   concurrency,
		BatchSize:     b.BatchSize,
		PollInterval:  b.PollInterval,
		ClaimTTL:      b.ClaimTTL,
		AckDeadline:   b.AckDeadline,
		DrainTimeout:  b.drainTimeout,
		Notifier:      b.notifier,
	}
}

func (b *PostgresBackend) deliverySubscriber(group string, concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	return pgtopic.NewSubscriber(b.Pool, b.subscriberConfig(group, concurrency), logger)
}

func (b *PostgresBackend) retrySubscriber(concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	return pgtopic.NewQueueSubscriber(b.Pool, b.subscriberConfig("", concurrency), logger)
}

func (b *PostgresBackend) retryPublisher(_ *message.Message, _ watermill.LoggerAdapter) (message.Publisher, error) {
	return pgtopic.NewQueuePublisher(b.Pool), nil
}

func (b *PostgresBackend) poisonStore() middleware.PoisonStore {
	return middleware.PostgresPoisonStore{DB: b.Pool}
}

func (b *PostgresBackend) maintain(ctx context.Context, logger watermill.LoggerAdapter) {
	n, err := store.PruneDedup(ctx, b.Pool, 10000)
	if err != nil {
		logger.Error("Pruning dedup keys failed", err, nil)
	} else if n > 0 {
		logger.Debug("Pruned expired dedup keys", watermill.LogFields{"count": n})
	}
	if n, err := store.PruneDedupHits(ctx, b.Pool, 10000); err != nil {
		logger.Error("Pruning dedup hit counts failed", err, nil)
	} else if n > 0 {
		logger.Debug("Pruned expired dedup hit counts", watermill.LogFields{"count": n})
	}
	for _, p := range b.pipelines {
		n, err := pgtopic.Prune(ctx, b.Pool, Topic(p.Name), b.Retention)
		if err != nil {
			logger.Error("Pruning delivered messages failed", err, watermill.LogFields{"pipeline": p.Name})
		} else if n > 0 {
			logger.Debug("Pruned delivered messages", watermill.LogFields{"pipeline": p.Name, "count": n})
		}
	}
}

func (b *PostgresBackend) close() error {
	if b.stopNotifier != nil {
		b.stopNotifier()
	}
	return nil
}
