package router

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/middleware"
)

// PostgresBackend keeps topics in PostgreSQL through watermill-sql: a
// DefaultPostgreSQLSchema table per pipeline read by one consumer group per
// sink, and a delayed queue table per sink for retries. Dedup keys, poison
// records and requeues are written in the same transactions as the messages
// they concern.
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
			if err := rsub.(message.SubscribeInitializer).SubscribeInitialize(RetryTopic(p.Name, s.Name)); err != nil {
				return fmt.Errorf("router: create retry topic of sink %q: %w", s.Name, err)
			}
		}
	}
	return nil
}

func (b *PostgresBackend) ingest(ctx context.Context, fn func(context.Context, message.Publisher) error) error {
	tx, err := b.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin ingest transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	wtx := wsql.TxFromPgx(tx)
	pub, err := wsql.NewPublisher(wtx, wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}}, watermill.NopLogger{})
	if err != nil {
		return err
	}
	if err := fn(middleware.ContextWithTx(ctx, wtx), pub); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit ingest transaction: %w", err)
	}
	return nil
}

func (b *PostgresBackend) deliverySubscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	deadline := b.AckDeadline
	return wsql.NewSubscriber(b.db, wsql.SubscriberConfig{
		ConsumerGroup:    group,
		PollInterval:     b.PollInterval,
		AckDeadline:      &deadline,
		SchemaAdapter:    wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter:   wsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
	}, logger)
}

func (b *PostgresBackend) retrySubscriber(logger watermill.LoggerAdapter) (message.Subscriber, error) {
	deadline := b.AckDeadline
	return wsql.NewDelayedPostgreSQLSubscriber(b.db, wsql.DelayedPostgreSQLSubscriberConfig{
		DeleteOnAck:  true,
		AllowNoDelay: true,
		Logger:       logger,
		OverrideSubscriberConfig: func(c *wsql.SubscriberConfig) error {
			c.PollInterval = b.PollInterval
			c.AckDeadline = &deadline
			return nil
		},
	})
}

func (b *PostgresBackend) retryPublisher(msg *message.Message, logger watermill.LoggerAdapter) (message.Publisher, error) {
	var db wsql.ContextExecutor = b.db
	if tx, ok := middleware.TxFromContext(msg.Context()); ok {
		db = tx
	}
	return wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: wsql.PostgreSQLQueueSchema{}}, logger)
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

