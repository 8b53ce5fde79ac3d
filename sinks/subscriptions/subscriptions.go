// Package subscriptions is a sink that delivers each event to every enabled
// endpoint subscribed to its type: endpoints are rows in Postgres (URL,
// method, token / Basic / Standard Webhooks secrets with rotation, headers,
// rate limit, event-type patterns, an optional tenant), added, changed and
// removed at runtime (Store; `tributary endpoints`; the admin API), and
// every running sink applies a change within a second or two.
//
// The sink fans an event out into per-endpoint delivery rows, in one
// transaction with the event (idempotent by message UUID, so a topic message
// delivered again after a crash is not fanned out twice), and only then
// lets the router ack it. A dispatcher delivers those rows, each endpoint
// with its own queue, in-flight cap, rate limit, circuit breaker, retry
// schedule and 410-disable — all of it sinks/webhook's Publisher, one per
// endpoint — so one endpoint hanging, failing or disabled costs the others
// nothing:
//
//	sink, _ := subscriptions.NewSink(subscriptions.Config{Pool: pool, Pipeline: "comments", Sink: "hooks"}, logger)
//	store := subscriptions.NewStore(pool)
//	_, _ = store.Create(ctx, subscriptions.Endpoint{Pipeline: "comments", Sink: "hooks",
//		URL: "https://partner.example/hooks", Types: []string{"comment.*"}, Token: token}, "me")
package subscriptions

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pglisten"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("subscriptions: sink closed")

// ErrNotReady is returned by Publish until the sink has read its endpoints
// once (the database is unreachable): the router retries the event.
var ErrNotReady = errors.New("subscriptions: endpoints not loaded yet")

// Config configures a subscriptions sink. The per-endpoint settings (URL,
// credentials, rate limit, types) are the endpoints' rows; the fields here
// apply to every endpoint of the sink.
type Config struct {
	// Pool is the database holding the endpoints and the queue. Required.
	Pool *pgxpool.Pool `yaml:"-"`
	// Pipeline and Sink name the endpoint set (the rows' pipeline and sink
	// columns); the pipeline file sets them. Required.
	Pipeline string `yaml:"-"`
	Sink     string `yaml:"-"`
	// TenantKey names the event's tenant: a metadata key, else a top-level
	// field of the JSON payload (string or number). Empty: events have no
	// tenant and only endpoints without one receive them.
	TenantKey string `yaml:"tenant_key"`
	// Retry is each endpoint's retry schedule: a preset (linear, parakey,
	// standard) or a list of durations ("10s,1m,5m"); "linear" (1 min ×
	// attempt, 10 retries: the outbound-webhook seed's) when empty. Once
	// exhausted the delivery is poisoned (Store.Replay).
	Retry string `yaml:"retry"`
	// Timeout bounds one request; 15 s when zero.
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight bounds concurrent requests to one endpoint; 4 when zero.
	MaxInFlight int `yaml:"max_in_flight"`
	// Breaker is each endpoint's circuit breaker.
	Breaker webhook.BreakerConfig `yaml:"breaker"`
	// AllowPrivateNetworks turns the SSRF guard off (receivers on loopback
	// or a private network).
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// MetadataHeaders forwards message metadata as headers (webhook.Config).
	MetadataHeaders map[string]string `yaml:"metadata_headers"`
	// PollInterval is how often the dispatcher looks for due deliveries
	// without being woken; 1 s when zero.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Refresh is how often the sink re-reads its endpoints' version without
	// a notification; 5 s when zero.
	Refresh time.Duration `yaml:"refresh"`
	// ClaimBatch is how many deliveries one claim takes at most; 200 when zero.
	ClaimBatch int `yaml:"claim_batch"`
	// Lease is how long a claimed delivery is this instance's: if the
	// instance dies, it is claimed again after it; 2 × Timeout + 30 s when zero.
	Lease time.Duration `yaml:"lease"`
	// Retain is how long delivered and poisoned deliveries and their events
	// are kept (the queue view, Replay with a time); 72 h when zero.
	Retain time.Duration `yaml:"retain"`
	// CloseTimeout is how long Close waits for requests in flight before
	// cancelling them (a cancelled one is attempted again later); Timeout +
	// 5 s when zero.
	CloseTimeout time.Duration `yaml:"close_timeout"`
	// Log records every attempt (deliverylog), its sink named
	// "<sink>/<endpoint id>"; nil records nothing.
	Log webhook.DeliveryLog `yaml:"-"`
	// Now is the clock; time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

func (c *Config) setDefaults() {
	c.Retry = cmp.Or(c.Retry, middleware.PresetLinear)
	c.Timeout = cmp.Or(c.Timeout, 15*time.Second)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 4)
	c.PollInterval = cmp.Or(c.PollInterval, time.Second)
	c.Refresh = cmp.Or(c.Refresh, 5*time.Second)
	c.ClaimBatch = cmp.Or(c.ClaimBatch, 200)
	c.Lease = cmp.Or(c.Lease, 2*c.Timeout+30*time.Second)
	c.Retain = cmp.Or(c.Retain, 72*time.Hour)
	c.CloseTimeout = cmp.Or(c.CloseTimeout, c.Timeout+5*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with c, each option error named by its key.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if _, err := middleware.ParseSchedule(c.Retry); err != nil {
		bad("retry", "%s", err.Error())
	}
	for _, n := range []struct {
		key string
		v   float64
	}{{"timeout", float64(c.Timeout)}, {"poll_interval", float64(c.PollInterval)}, {"refresh", float64(c.Refresh)},
		{"lease", float64(c.Lease)}, {"retain", float64(c.Retain)}, {"close_timeout", float64(c.CloseTimeout)},
		{"max_in_flight", float64(c.MaxInFlight)}, {"claim_batch", float64(c.ClaimBatch)}} {
		if n.v < 0 {
			bad(n.key, "must not be negative")
		}
	}
	if c.Lease > 0 && c.Lease <= c.Timeout {
		bad("lease", "must be longer than timeout (%s), or a delivery under way would be claimed again", c.Timeout)
	}
	return errors.Join(errs...)
}

// base is the webhook configuration every endpoint's Publisher starts from.
func (c Config) base() webhook.Config {
	return webhook.Config{Timeout: c.Timeout, MaxInFlight: c.MaxInFlight, Breaker: c.Breaker,
		AllowPrivateNetworks: c.AllowPrivateNetworks, MetadataHeaders: c.MetadataHeaders, Log: c.Log, Now: c.Now,
		StateRefresh: time.Second}
}

// Sink is the subscriptions sink: Publish fans out, a dispatcher delivers.
type Sink struct {
	cfg      Config
	logger   watermill.LoggerAdapter
	store    *Store
	schedule middleware.Schedule
	metrics  atomic.Pointer[sinkMetrics]

	ix      atomic.Pointer[index]
	ready   chan struct{}
	changed chan struct{} // endpoints changed: reload
	wake    chan struct{} // deliveries queued: claim

	disp   *dispatcher
	cancel context.CancelFunc
	done   sync.WaitGroup
	closed atomic.Bool
	once   sync.Once
}

// NewSink validates cfg and starts the sink's loops: the endpoints' index
// (LISTEN/NOTIFY with a poll) and the dispatcher. Close stops them.
func NewSink(cfg Config, logger watermill.LoggerAdapter) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Pool == nil {
		return nil, errors.New("subscriptions: Config.Pool is required")
	}
	if cfg.Pipeline == "" || cfg.Sink == "" {
		return nil, errors.New("subscriptions: Config.Pipeline and Config.Sink are required")
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	sched, _ := middleware.ParseSchedule(cfg.Retry) // validated
	s := &Sink{cfg: cfg, logger: logger, store: &Store{pool: cfg.Pool, now: cfg.Now}, schedule: sched,
		ready: make(chan struct{}), changed: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
	s.metrics.Store(newSinkMetrics(nil, cfg.Pipeline, cfg.Sink))
	s.disp = newDispatcher(s)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(3)
	go func() { defer s.done.Done(); s.listen(ctx) }()
	go func() { defer s.done.Done(); s.refreshLoop(ctx) }()
	go func() { defer s.done.Done(); s.disp.run(ctx) }()
	return s, nil
}

// Instrument implements router.Instrumented.
func (s *Sink) Instrument(reg prometheus.Registerer, pipeline, sink string) {
	s.metrics.Store(newSinkMetrics(reg, pipeline, sink))
}

// Store returns the sink's endpoint store.
func (s *Sink) Store() *Store { return s.store }

// Publish fans each message out to the endpoints subscribed to its type
// (metadata tributary.MetaEventType) and tenant, and returns once the
// deliveries are committed: the router acks the message only then. A
// message no endpoint subscribes to is acked with nothing stored.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	if s.closed.Load() {
		return ErrClosed
	}
	for _, msg := range msgs {
		if err := s.publish(msg); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) publish(msg *message.Message) error {
	ix := s.ix.Load()
	if ix == nil {
		select {
		case <-s.ready:
			ix = s.ix.Load()
		case <-msg.Context().Done():
			return ErrNotReady
		case <-time.After(s.cfg.Timeout):
			return ErrNotReady
		}
	}
	ev := event{uuid: msg.UUID, id: tributary.EventID(msg), typ: msg.Metadata.Get(tributary.MetaEventType),
		payload: msg.Payload, metadata: map[string]string(msg.Metadata)}
	ev.tenant = s.tenant(msg)
	ids := ix.match(ev.tenant, ev.typ)
	m := s.metrics.Load()
	if len(ids) == 0 {
		m.unmatched.Inc()
		return nil
	}
	n, err := s.store.fanOut(msg.Context(), s.cfg.Pipeline, s.cfg.Sink, ev, ids)
	if err != nil {
		return err
	}
	m.queued.Add(float64(n))
	s.poke(s.wake)
	return nil
}

// tenant returns msg's tenant: the metadata value of TenantKey, else the
// payload's top-level field.
func (s *Sink) tenant(msg *message.Message) string {
	if s.cfg.TenantKey == "" {
		return ""
	}
	if v := msg.Metadata.Get(s.cfg.TenantKey); v != "" {
		return v
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(msg.Payload, &fields) != nil {
		return ""
	}
	raw, ok := fields[s.cfg.TenantKey]
	if !ok {
		return ""
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	var num json.Number
	if json.Unmarshal(raw, &num) == nil {
		return num.String()
	}
	return ""
}

// Close stops fanning out and claiming, hands back the claimed deliveries
// not yet started, and waits up to CloseTimeout for those in flight to be
// answered and recorded: a clean stop repeats nothing.
func (s *Sink) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.done.Wait()
		s.disp.close()
	})
	return nil
}

// Endpoints returns the endpoints the sink currently delivers to (enabled,
// as of its last reload) and the version it read.
func (s *Sink) Endpoints() (ids []string, version int64) {
	ix := s.ix.Load()
	if ix == nil {
		return nil, 0
	}
	for id, e := range ix.byID {
		if e.ep.Enabled {
			ids = append(ids, id)
		}
	}
	return ids, ix.version
}

// Endpoint returns endpoint id as the sink last read it.
func (s *Sink) Endpoint(id string) (Endpoint, bool) {
	ix := s.ix.Load()
	if ix == nil || ix.byID[id] == nil {
		return Endpoint{}, false
	}
	return ix.byID[id].ep, true
}

func (s *Sink) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// listen wakes the reload and the dispatcher on notifications.
func (s *Sink) listen(ctx context.Context) {
	key := sinkKey(s.cfg.Pipeline, s.cfg.Sink)
	pglisten.Run(ctx, s.cfg.Pool.Config().ConnConfig.Copy(), Channel,
		func() { s.poke(s.changed); s.poke(s.wake) },
		func(payload string) {
			switch payload {
			case key:
				s.poke(s.changed)
			case workPrefix + key:
				s.poke(s.wake)
			}
		},
		func(err error) {
			s.logger.Debug("Endpoint notifications lost; polling meanwhile", watermill.LogFields{"err": err.Error()})
		})
}

// refreshLoop reloads the index when notified, and when the stored version
// moved on (the poll that makes up for lost notifications).
func (s *Sink) refreshLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		if err := s.reload(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("Reading the endpoints failed; keeping the last known", err, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		case <-t.C:
		}
	}
}

// reload reads the endpoints when their version is not the index's.
func (s *Sink) reload(ctx context.Context) error {
	read := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := s.store.version(rctx, s.cfg.Pipeline, s.cfg.Sink)
	if err != nil {
		return err
	}
	if cur := s.ix.Load(); cur != nil && cur.version == v {
		return nil
	}
	eps, err := s.store.List(rctx, Filter{Pipeline: s.cfg.Pipeline, Sink: s.cfg.Sink})
	if err != nil {
		return err
	}
	ix := buildIndex(v, eps)
	ix.read = read
	first := s.ix.Swap(ix) == nil
	s.metrics.Load().endpoints.Set(float64(ix.enabled))
	if first {
		close(s.ready)
	}
	s.poke(s.wake) // an endpoint enabled again has deliveries waiting
	return nil
}
