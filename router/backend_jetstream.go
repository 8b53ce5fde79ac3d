package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router/jstopic"
	"github.com/tributary-dev/tributary/store"
)

// JetStreamConfig configures the NATS JetStream backend. A pipeline file's
// `backend:` block (type jetstream) decodes into it (BackendConfig).
type JetStreamConfig struct {
	// URL of the NATS server(s), comma-separated; nats://127.0.0.1:4222
	// when empty.
	URL string `yaml:"url"`
	// Pool is the PostgreSQL database that keeps what outlives JetStream's
	// windows and what operators query: dedup keys (tributary_dedup), poison
	// records (tributary_poison) and the sinks' delivery log. Required.
	Pool *pgxpool.Pool `yaml:"-"`
	// Replicas of each stream; 1 when zero (a single server). 3 on a
	// cluster of three keeps the topics through the loss of one server.
	Replicas int `yaml:"replicas"`
	// AckWait is how long a message handed to an instance that died waits
	// before another instance (or the restarted one) gets it: what
	// ClaimTTL is for Postgres. 30 s when zero (jstopic.Config).
	AckWait time.Duration `yaml:"ack_wait"`
	// DuplicateWindow is how long each stream drops a repeated Nats-Msg-Id;
	// 2 min (JetStream's default) when zero. It bounds one gap in dedup: an
	// instance that dies after publishing an event and before recording its
	// key, and whose source redelivers the event after more than this,
	// stores it twice. (Not a pipeline-file option.)
	DuplicateWindow time.Duration `yaml:"-"`
}

// setDefaults sets what the router itself needs; jstopic.Config defaults
// the rest (replicas, ack wait, duplicate window).
func (c *JetStreamConfig) setDefaults() {
	if c.URL == "" {
		c.URL = nats.DefaultURL
	}
}

// Validate reports what is wrong with c.
func (c JetStreamConfig) Validate() error {
	errs := c.validateOptions()
	if c.Pool == nil {
		errs = append(errs, errors.New("JetStream backend needs a Postgres pool (dedup keys, poison records, delivery log)"))
	}
	return errors.Join(errs...)
}

// validateOptions checks what a pipeline file can set, each problem a
// *tributary.OptionError named by its key.
func (c JetStreamConfig) validateOptions() []error {
	var errs []error
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, tributary.Option("replicas", "%d; want 1 to 5 (the servers that keep each stream)", c.Replicas))
	}
	if c.AckWait < 0 {
		errs = append(errs, tributary.Option("ack_wait", "must not be negative"))
	}
	if c.DuplicateWindow < 0 {
		errs = append(errs, tributary.Option("duplicate_window", "must not be negative"))
	}
	return errs
}

// JetStreamBackend keeps topics in NATS JetStream (package jstopic): a
// stream per pipeline, read by a durable consumer per sink that every
// instance shares, and a work-queue stream per pipeline for its sinks'
// delayed retries. Dedup keys, poison records and the delivery log stay in
// Postgres, so the operator commands work the same on both backends.
//
// Ingest publishes an event with its dedup key as Nats-Msg-Id, waits for
// the stream to store it, then records the key in tributary_dedup. Nothing
// spans the two: no transaction is held open across the publish. A crash
// between them leaves the event stored and its key unrecorded; the source,
// never acked, redelivers it, and the stream drops the repeat by its
// Nats-Msg-Id if that comes within DuplicateWindow, after which the key is
// recorded. The recorded key holds for the pipeline's dedup TTL (7 days).
type JetStreamBackend struct {
	cfg JetStreamConfig

	mu     sync.Mutex
	logger watermill.LoggerAdapter // the router's, once init ran
	nc     *nats.Conn
	js     jetstream.JetStream
	pub    *jstopic.Publisher
	// drainTimeout is the router's CloseTimeout.
	drainTimeout time.Duration
	// afterPublish, in tests, runs between the publish and the recording of
	// dedup keys: an error there is a crash between the two.
	afterPublish func() error
}

// JetStream returns the JetStream backend; it connects when the router
// starts (or Publisher/Subscriber is called).
func JetStream(cfg JetStreamConfig) *JetStreamBackend {
	cfg.setDefaults()
	return &JetStreamBackend{cfg: cfg} // drainTimeout: jstopic's default until init sets the router's
}

// connect opens the NATS connection once. It reconnects for ever: a server
// restart pauses ingest and delivery, it does not stop the router.
func (b *JetStreamBackend) connect() (jetstream.JetStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.js != nil {
		return b.js, nil
	}
	if err := b.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	nc, err := nats.Connect(b.cfg.URL, nats.Name("tributary"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.warnIfUnsafe(nc) }))
	if err != nil {
		return nil, fmt.Errorf("router: NATS at %s: %w", b.cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("router: JetStream: %w", err)
	}
	b.nc, b.js = nc, js
	b.pub = jstopic.NewPublisher(js, b.topicConfig("", 1))
	return js, nil
}

// current returns the connection's JetStream and publisher, or an error once
// closed: maintenance or an abandoned ingest may outlive the router's Run.
func (b *JetStreamBackend) current() (jetstream.JetStream, *jstopic.Publisher, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.js == nil {
		return nil, nil, errors.New("router: JetStream backend is closed")
	}
	return b.js, b.pub, nil
}

func (b *JetStreamBackend) topicConfig(group string, concurrency int) jstopic.Config {
	return jstopic.Config{
		Group:           group,
		Replicas:        b.cfg.Replicas,
		DuplicateWindow: b.cfg.DuplicateWindow,
		AckWait:         b.cfg.AckWait,
		MaxInFlight:     concurrency,
		DrainTimeout:    b.drainTimeout,
	}
}

func (b *JetStreamBackend) init(ctx context.Context, pipelines []Pipeline, logger watermill.LoggerAdapter, closeTimeout time.Duration) error {
	b.drainTimeout = closeTimeout
	js, err := b.connect()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.logger = logger
	nc := b.nc
	b.mu.Unlock()
	b.warnIfUnsafe(nc)
	var ok bool
	if err := b.cfg.Pool.QueryRow(ctx, `SELECT to_regclass('tributary_dedup') IS NOT NULL
		AND to_regclass('tributary_poison') IS NOT NULL`).Scan(&ok); err != nil {
		return fmt.Errorf("router: database: %w", err)
	}
	if !ok {
		return fmt.Errorf("router: %w: run `tributary migrate` (or migrations.Up)", ErrNotMigrated)
	}
	// Create each sink's consumers before anything is ingested, so a sink
	// that starts late still gets every event.
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			for _, topic := range []string{Topic(p.Name), RetryTopic(p.Name, s.Name)} {
				if _, err := jstopic.EnsureConsumer(ctx, js, topic, b.topicConfig(s.Name, s.Concurrency)); err != nil {
					return fmt.Errorf("router: sink %q: %w", s.Name, err)
				}
			}
		}
	}
	return nil
}

// SafeNATSServer is the oldest nats-server release the JetStream backend
// was shown to keep its promise with: an event whose publish the server
// acknowledged is still in the stream after the server stopped
// gracefully and started again. nats-server 2.9.10 (Debian 12's) and
// 2.9.15 lose such events (TestNATSServerGracefulRestartLosesNothing);
// 2.9.16, 2.9.17, 2.9.20, 2.9.25, 2.10.0 and 2.15.3 passed it. See
// docs/backends.md.
const SafeNATSServer = "2.9.16"

// warnIfUnsafe logs, loudly, a server older than SafeNATSServer (at start
// and at every reconnect: the server may have been replaced meanwhile).
func (b *JetStreamBackend) warnIfUnsafe(nc *nats.Conn) {
	b.mu.Lock()
	logger := b.logger
	b.mu.Unlock()
	if logger == nil || nc == nil {
		return
	}
	v := nc.ConnectedServerVersion()
	if !versionBelow(v, SafeNATSServer) {
		return
	}
	logger.Error("nats-server is too old for the JetStream backend: it can lose events it acknowledged when it restarts; upgrade it",
		fmt.Errorf("nats-server %s is older than %s (docs/backends.md)", v, SafeNATSServer),
		watermill.LogFields{"server_version": v, "required": SafeNATSServer})
}

// versionBelow reports whether the release v (2.9.10, 2.11.0-beta.2) is
// older than min (major.minor.patch); an unreadable v counts as older.
func versionBelow(v, min string) bool {
	parse := func(s string) (out [3]int, ok bool) {
		s, _, _ = strings.Cut(strings.TrimPrefix(s, "v"), "-")
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			return out, false
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return out, false
			}
			out[i] = n
		}
		return out, true
	}
	have, ok := parse(v)
	want, _ := parse(min)
	return !ok || slices.Compare(have[:], want[:]) < 0
}

func (b *JetStreamBackend) ingest(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, error) {
	first := firstOfKey(items)
	var keys []string
	for i, it := range items {
		if first[i] && it.key != "" {
			keys = append(keys, it.key)
		}
	}
	known := map[string]bool{}
	if len(keys) > 0 {
		var err error
		if known, err = store.HeldDedupKeys(ctx, b.cfg.Pool, target.pipeline, keys); err != nil {
			return nil, err
		}
	}
	var (
		msgs []*message.Message
		ids  []string
		sent []int
	)
	for i, it := range items {
		if !first[i] || (it.key != "" && known[it.key]) {
			continue
		}
		id := it.msg.UUID
		if it.key != "" {
			id = "key:" + it.key
		}
		msgs, ids, sent = append(msgs, it.msg), append(ids, id), append(sent, i)
	}
	stored := make([]bool, len(items))
	if len(msgs) == 0 {
		return stored, nil
	}
	_, pub, err := b.current()
	if err != nil {
		return nil, err
	}
	dup, err := pub.PublishWithIDs(ctx, target.topic, msgs, ids)
	if err != nil {
		return nil, fmt.Errorf("store %d events: %w", len(msgs), err)
	}
	var fresh []string
	for j, i := range sent {
		stored[i] = !dup[j]
		if items[i].key != "" {
			fresh = append(fresh, items[i].key)
		}
	}
	if b.afterPublish != nil {
		if err := b.afterPublish(); err != nil {
			return nil, err
		}
	}
	if len(fresh) > 0 {
		if err := store.RecordDedupKeys(ctx, b.cfg.Pool, target.pipeline, fresh, target.ttl); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// ingestEach stores items one by one; one refused for good (a message over
// the server's max_payload, a dedup key Postgres refuses) is recorded in
// the ingest quarantine in Postgres. Nothing spans the stream and the
// table: a failure part-way leaves the items before it stored, and the
// source's redelivery finds them by their dedup keys (with dedup off, they
// are stored again); a crash after recording an item in the quarantine and
// before the ack records it again on redelivery.
func (b *JetStreamBackend) ingestEach(ctx context.Context, target ingestTarget, items []ingestItem) ([]bool, []string, error) {
	stored, quarantined := make([]bool, len(items)), make([]string, len(items))
	for i, it := range items {
		s, err := b.ingest(ctx, target, items[i:i+1])
		if err == nil {
			stored[i] = s[0]
			continue
		}
		why, ok := classifyUnstorable(err)
		if !ok {
			return nil, nil, err
		}
		if err := quarantine(ctx, b.cfg.Pool, target, it, why); err != nil {
			return nil, nil, err
		}
		quarantined[i] = why.Reason
	}
	return stored, quarantined, nil
}

// IngestQuarantine returns the ingest quarantine of pipelines on this
// backend: its records are in Postgres, and Replay stores an event into
// its pipeline's stream (then deletes the record: a crash between the two
// leaves the record, and replaying it again is a duplicate by its dedup
// key, or by its message id within DuplicateWindow).
func (b *JetStreamBackend) IngestQuarantine() *IngestQuarantine {
	return &IngestQuarantine{pool: b.cfg.Pool, store: func(ctx context.Context, target ingestTarget, item ingestItem) error {
		if _, err := b.connect(); err != nil {
			return err
		}
		_, err := b.ingest(ctx, target, []ingestItem{item})
		return err
	}}
}

// Publisher returns a publisher into pipeline topics.
func (b *JetStreamBackend) Publisher(watermill.LoggerAdapter) (message.Publisher, error) {
	if _, err := b.connect(); err != nil {
		return nil, err
	}
	_, pub, err := b.current()
	return pub, err
}

// Subscriber returns a subscriber reading pipeline topics as consumer group
// `group`, configured as the router's sinks read them.
func (b *JetStreamBackend) Subscriber(group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	return b.deliverySubscriber(group, 1, logger)
}

func (b *JetStreamBackend) deliverySubscriber(group string, concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	js, err := b.connect()
	if err != nil {
		return nil, err
	}
	return jstopic.NewSubscriber(js, b.topicConfig(group, concurrency), logger)
}

// retrySubscriber reads a sink's retry topic as that sink's consumer of
// the retry stream (jstopic names it from the topic).
func (b *JetStreamBackend) retrySubscriber(concurrency int, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	js, err := b.connect()
	if err != nil {
		return nil, err
	}
	return jstopic.NewSubscriber(js, b.topicConfig("", concurrency), logger)
}

func (b *JetStreamBackend) retryPublisher(*message.Message, watermill.LoggerAdapter) (message.Publisher, error) {
	_, pub, err := b.current()
	return pub, err
}

func (b *JetStreamBackend) poisonStore() middleware.PoisonStore {
	return middleware.PostgresPoisonStore{DB: b.cfg.Pool}
}

func (b *JetStreamBackend) maintain(ctx context.Context, logger watermill.LoggerAdapter) {
	n, err := store.PruneDedup(ctx, b.cfg.Pool, 10000)
	if err != nil {
		logger.Error("Pruning dedup keys failed", err, nil)
	} else if n > 0 {
		logger.Debug("Pruned expired dedup keys", watermill.LogFields{"count": n})
	}
	// The streams need nothing: each removes a message once every sink has
	// acked it (jstopic.EnsureStream).
}

func (b *JetStreamBackend) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc != nil {
		b.nc.Close()
		b.nc, b.js, b.pub = nil, nil, nil
	}
	return nil
}
