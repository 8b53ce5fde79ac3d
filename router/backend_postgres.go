package router

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/middleware"
)

// PostgresBackend keeps topics in PostgreSQL through watermill-sql: a
// DefaultPostgreSQLSchema table per pipeline read by one consumer group per
// sink, and a delayed queue table per sink for retries. Dedup keys are written
// in the same transaction as the event they guard; requeues and poison records
// are committed before the message they concern is acked.
type PostgresBackend struct {
	Pool *pgxpool.Pool
	// PollInterval is how often an idle consumer looks for new messages; 100 ms when zero.
	PollInterval time.Duration
	// AckDeadline bounds one delivery (with its in-process retries) before the
	// message is redelivered; 5 min when zero.
	AckDeadline time.Duration

	db wsql.Beginner
}

// Postgres returns the durable backend on pool. The pool needs about two
// connections per sink plus a few for ingest; OpenPool sizes one.
func Postgres(pool *pgxpool.Pool) *PostgresBackend {
	return &PostgresBackend{Pool: pool}
}

// OpenPool opens a pgx pool sized for a router (at least 32 connections).
func OpenPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
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

func (b *PostgresBackend) setDefaults() {
	if b.PollInterval == 0 {
		b.PollInterval = 100 * time.Millisecond
	}
	if b.AckDeadline == 0 {
		b.AckDeadline = 5 * time.Minute
	}
	if b.db == nil {
		b.db = wsql.BeginnerFromPgx(b.Pool)
	}
}

func (b *PostgresBackend) init(ctx context.Context, pipelines []Pipeline, logger watermill.LoggerAdapter) error {
	if b.Pool == nil {
		return fmt.Errorf("router: Postgres backend has no pool")
	}
	b.setDefaults()
	if err := b.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("router: database: %w", err)
	}
	sub, err := b.deliverySubscriber("init", logger)
	if err != nil {
		return err
	}
	rsub, err := b.retrySubscriber(logger)
	if err != nil {
		return err
	}
	for _, p := range pipelines {
		if err := sub.(message.SubscribeInitializer).SubscribeInitialize(Topic(p.Name)); err != nil {
			return fmt.Errorf("router: create topic of pipeline %q: %w", p.Name, err)
		}
		for _, s := range p.Sinks {
			topic := RetryTopic(p.Name, s.Name)
			if err := rsub.(message.SubscribeInitializer).SubscribeInitialize(topic); err != nil {
				return fmt.Errorf("router: create retry topic of sink %q: %w", s.Name, err)
			}
			table := retrySchema.MessagesTable(topic)
			index := strings.ReplaceAll(strings.TrimSuffix(table, `"`)+`_due_idx"`, ".", "_")
			if _, err := b.Pool.Exec(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ((metadata->>'%s')) WHERE NOT acked`,
				index, table, delay.DelayedUntilKey)); err != nil {
				return fmt.Errorf("router: index retry topic of sink %q: %w", s.Name, err)
			}
		}
	}
	return nil
}

func (b *PostgresBackend) ingest(ctx context.Context, fns ...ingestFunc) error {
	tx, err := b.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin ingest transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	wtx := wsql.TxFromPgx(tx)
	pub, err := wsql.NewPublisher(wtx, wsql.PublisherConfig{SchemaAdapter: topicSchema}, watermill.NopLogger{})
	if err != nil {
		return err
	}
	txCtx := middleware.ContextWithTx(ctx, wtx)
	for _, fn := range fns {
		if err := fn(txCtx, pub); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit ingest transaction: %w", err)
	}
	return nil
}

// Payloads are stored as BYTEA so that a pipeline carries any payload, not
// only valid JSON (watermill-sql's default column type).
func bytea(string) string { return "BYTEA" }

var (
	topicSchema  = wsql.DefaultPostgreSQLSchema{GeneratePayloadType: bytea}
	topicOffsets = wsql.DefaultPostgreSQLOffsetsAdapter{}
	// retrySchema reads only messages whose delay has passed, so a message
	// waiting ten minutes does not hold back one due now.
	retrySchema = wsql.PostgreSQLQueueSchema{
		GeneratePayloadType: bytea,
		GenerateWhereClause: func(wsql.GenerateWhereClauseParams) (string, []any) {
			return fmt.Sprintf(`((metadata->>'%[1]s') IS NULL OR (metadata->>'%[1]s')::timestamptz <= NOW())`, delay.DelayedUntilKey), nil
		},
	}
)

// Publisher returns a publisher into pipeline topics, as the ingest path
// writes them (outside a transaction).
func (b *PostgresBackend) Publisher(logger watermill.LoggerAdapter) (message.Publisher, error) {
	b.setDefaults()
	return wsql.NewPublisher(b.db, wsql.PublisherConfig{SchemaAdapter: topicSchema, AutoInitializeSchema: true}, logger)
}

// Subscriber returns a subscriber reading pipeline topics as consumer group
// `group`, configured as the router's sinks read them.
func (b *PostgresBackend) Subscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	b.setDefaults()
	return b.deliverySubscriber(group, logger)
}

func (b *PostgresBackend) deliverySubscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	deadline := b.AckDeadline
	return newSubscriber(b.db, wsql.SubscriberConfig{
		ConsumerGroup:    group,
		PollInterval:     b.PollInterval,
		AckDeadline:      &deadline,
		SchemaAdapter:    topicSchema,
		OffsetsAdapter:   topicOffsets,
		InitializeSchema: true,
	}, logger)
}

func (b *PostgresBackend) retrySubscriber(logger watermill.LoggerAdapter) (message.Subscriber, error) {
	deadline := b.AckDeadline
	return newSubscriber(b.db, wsql.SubscriberConfig{
		PollInterval:     b.PollInterval,
		AckDeadline:      &deadline,
		SchemaAdapter:    retrySchema,
		OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		InitializeSchema: true,
	}, logger)
}

func newSubscriber(db wsql.Beginner, cfg wsql.SubscriberConfig, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	sub, err := wsql.NewSubscriber(db, cfg, logger)
	if err != nil {
		return nil, err
	}
	return syncClose(sub), nil
}

func (b *PostgresBackend) retryPublisher(_ *message.Message, logger watermill.LoggerAdapter) (message.Publisher, error) {
	return wsql.NewPublisher(b.db, wsql.PublisherConfig{SchemaAdapter: retrySchema}, logger)
}

func (b *PostgresBackend) dedupStore() middleware.DedupStore {
	return middleware.PostgresDedupStore{DB: b.db}
}

func (b *PostgresBackend) poisonStore() middleware.PoisonStore {
	return middleware.PostgresPoisonStore{DB: b.db}
}

func (b *PostgresBackend) maintain(ctx context.Context, logger watermill.LoggerAdapter) {
	n, err := middleware.PostgresDedupStore{DB: b.db}.Prune(ctx, 10000)
	if err != nil {
		logger.Error("Pruning dedup keys failed", err, nil)
		return
	}
	if n > 0 {
		logger.Debug("Pruned expired dedup keys", watermill.LogFields{"count": n})
	}
}

func (b *PostgresBackend) close() error { return nil }
