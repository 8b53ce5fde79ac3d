// Package router composes pipelines: sources feed a durable topic through the
// ingest handler (dedup, then publish, in one transaction), and every sink
// consumes the topic with its own consumer group through Poison ⟶ Requeue ⟶
// Retry. The order is fixed here so that it cannot be got wrong.
package router

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/router/leader"
)

// Config configures a Router.
type Config struct {
	// Backend holds the topics: Postgres(pool) for durable pipelines, Memory()
	// for unit tests. Required: there is no default.
	Backend Backend
	// Logger; watermill.NopLogger when nil.
	Logger watermill.LoggerAdapter
	// CloseTimeout is how long shutdown waits for in-flight deliveries; 30 s when zero.
	CloseTimeout time.Duration
	// MaintenanceInterval is how often expired dedup keys are pruned; 1 min when zero.
	MaintenanceInterval time.Duration
	// Leadership, when set, runs each source that has a New factory in one
	// instance at a time among the instances sharing the Postgres database
	// (see Leadership). Nil: every source runs here.
	Leadership *Leadership
	// Metrics is where the router registers its collectors and where its
	// sources and sinks register theirs (see Instrumented); every series
	// carries the pipeline. Nil: a private registry that nobody scrapes, so
	// an embedding program that wants no metrics pays nothing global and a
	// library never touches prometheus.DefaultRegisterer. Routers may share
	// one Registerer: their series differ by pipeline.
	Metrics prometheus.Registerer
	// TracerProvider makes the ingest and delivery-attempt spans (see
	// package tracing); otel.GetTracerProvider() when nil, which is a no-op
	// until the program installs one: the trace context still travels from
	// source to sink, but no span is recorded or exported.
	TracerProvider trace.TracerProvider
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.MaintenanceInterval == 0 {
		c.MaintenanceInterval = time.Minute
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("router: Config.Backend is required: router.Postgres(pool) for durable pipelines, router.Memory() for tests")
	}
	if c.CloseTimeout < 0 || c.MaintenanceInterval < 0 {
		return errors.New("router: durations must not be negative")
	}
	if c.Leadership != nil {
		if leaseDB(c.Backend) == nil {
			return errors.New("router: Config.Leadership needs a backend with a PostgreSQL pool (Postgres, or JetStream with its Pool): instances share the leases there")
		}
		if c.Leadership.TTL != 0 && c.Leadership.TTL < time.Second {
			return fmt.Errorf("router: Leadership.TTL %v is below 1s", c.Leadership.TTL)
		}
	}
	return nil
}

// Router runs pipelines.
type Router struct {
	cfg       Config
	pipelines []Pipeline
	logger    watermill.LoggerAdapter
	metrics   *metrics.Router
	tracer    trace.Tracer
	wm        *message.Router
	running   chan struct{}
	// stopping is closed when Run begins to stop.
	stopping chan struct{}
	// work ends CloseTimeout after Run begins to stop: what handlers still
	// do then is abandoned (and redelivered after a restart).
	work context.Context
	// subscribers are every handler's subscriber, closed by stop.
	subscribers []*closeOnce
	// led are the sources leadership starts and stops; stopLed stops the
	// election and waits until they are stopped and their leases released.
	led     []*ledSource
	stopLed func()
	// local are the sources that run here for as long as the router runs
	// (every source without Leadership; EveryInstance ones with it).
	local   []*ledSource
	ledMu   sync.Mutex
	elector *leader.Elector
	// failures are the sources that stopped on their own; failed is closed
	// at the first.
	failures     []SourceFailure
	failed       chan struct{}
	firstFailure sync.Once
}

// closeOnce lets stop close a subscriber before Watermill closes it again.
type closeOnce struct {
	message.Subscriber
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Subscriber.Close() })
	return c.err
}

func (r *Router) track(s message.Subscriber) message.Subscriber {
	c := &closeOnce{Subscriber: s}
	r.subscribers = append(r.subscribers, c)
	return c
}

// detach gives msg a context that a stopping subscriber or source does not
// end: an ingest or a delivery under way when the router stops finishes
// (within CloseTimeout) instead of being cut off half done, which could
// deliver to a receiver without recording it, or lose an event a source
// cannot send again.
func (r *Router) detach(msg *message.Message) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.WithoutCancel(msg.Context()))
	stop := context.AfterFunc(r.work, cancel)
	msg.SetContext(ctx)
	return func() {
		stop()
		cancel()
	}
}

// New validates the pipelines and builds a Router for them.
func New(cfg Config, pipelines ...Pipeline) (*Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(pipelines) == 0 {
		return nil, errors.New("router: no pipelines")
	}
	var errs []error
	names := map[string]bool{}
	for i := range pipelines {
		if err := pipelines[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[pipelines[i].Name] {
			errs = append(errs, fmt.Errorf("pipeline %q defined twice", pipelines[i].Name))
		}
		names[pipelines[i].Name] = true
		pipelines[i].setDefaults()
	}
	errs = append(errs, checkOrdering(cfg.Backend, pipelines))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if cfg.Leadership != nil && cfg.Leadership.Instance == "" {
		// One id for the leases and the lane claims, as status shows them.
		l := *cfg.Leadership
		host := l.Host
		if host == "" {
			host, _ = os.Hostname()
		}
		l.Instance = leader.NewInstanceID(host)
		cfg.Leadership = &l
	}
	stopping := make(chan struct{})
	wm, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, stopLogger{cfg.Logger, stopping})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			instrument(cfg.Metrics, s.Publisher, p.Name, s.Name)
		}
	}
	return &Router{cfg: cfg, pipelines: pipelines, logger: cfg.Logger, metrics: metrics.NewRouter(cfg.Metrics),
		tracer: cfg.TracerProvider.Tracer("github.com/tributary-dev/tributary/router"), wm: wm,
		running: make(chan struct{}), stopping: stopping, failed: make(chan struct{})}, nil
}

// handlersStopped is what Watermill's router logs, at ERROR, when all its
// handlers stopped before it was closed.
const handlersStopped = "All handlers stopped, closing router"

// stopLogger logs, once a stop has begun (stopping is closed), at INFO what
// is the stop and not a failure: an error that is the stop's cancellation,
// and handlersStopped. A clean stop here closes the subscribers before the
// Watermill router (see Run), so its handlers always stop first and Watermill
// logs handlersStopped at ERROR on every clean stop. Before the stop both are
// real failures and stay ERRORs. It is the Watermill router's logger and the
// maintenance loop's.
type stopLogger struct {
	watermill.LoggerAdapter
	stopping <-chan struct{}
}

func (l stopLogger) Error(msg string, err error, fields watermill.LogFields) {
	if msg == handlersStopped || errors.Is(err, context.Canceled) {
		select {
		case <-l.stopping:
			if err != nil {
				fields = fields.Add(watermill.LogFields{"error": err.Error()})
			}
			l.LoggerAdapter.Info(msg, fields)
			return
		default:
		}
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l stopLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return stopLogger{l.LoggerAdapter.With(fields), l.stopping}
}

// Pipelines are the router's pipelines, defaults filled in.
func (r *Router) Pipelines() []Pipeline { return r.pipelines }

// Backend is where the router's topics live (Config.Backend).
func (r *Router) Backend() Backend { return r.cfg.Backend }

// Running is closed once every handler has started.
func (r *Router) Running() <-chan struct{} { return r.running }

// Run prepares the topics, starts every handler and blocks until ctx is
// cancelled or the router fails. On cancellation in-flight deliveries get
// CloseTimeout to finish; a delivery that does not finish is not acked and is
// redelivered after restart.
func (r *Router) Run(ctx context.Context) error {
	if err := r.cfg.Backend.init(ctx, r.pipelines, r.logger, r.cfg.CloseTimeout); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing was read, nothing is lost
		}
		return err
	}
	// Ingest batchers outlive the Watermill router's handlers, which wait on
	// them while draining; they stop once the router has returned.
	bctx, stopBatchers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBatchers()
	for _, p := range r.pipelines {
		batcher := newIngestBatcher(r.cfg.Backend, ingestTarget{topic: Topic(p.Name), pipeline: p.Name, ttl: p.Dedup.TTL})
		go batcher.run(bctx)
		if err := r.addPipeline(p, batcher); err != nil {
			return err
		}
	}

	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	r.work = work
	mctx, stopMaintenance := context.WithCancel(ctx)
	defer stopMaintenance()
	if len(r.led) > 0 {
		// The election ends when Run begins to stop (stop waits for it).
		ectx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
		defer stopElection()
		wait, err := r.startLeadership(ectx, r.led)
		if err != nil {
			return err
		}
		r.stopLed = func() {
			stopElection()
			wait()
		}
	}
	// Sources that every instance runs start here; stop stops them. Running
	// is signalled once each has been started (or failed to start): a
	// receiving source (webhookin) answers 503 until it has.
	for _, l := range r.local {
		l.set(true)
	}
	for _, l := range r.local {
		select {
		case <-l.tried:
		case <-ctx.Done():
		}
	}
	// Run waits for maintenance to end: a router run again on the same
	// backend would otherwise race with the last run's pruning.
	maintained := make(chan struct{})
	go func() {
		defer close(maintained)
		r.maintain(mctx)
	}()
	go func() {
		select {
		case <-r.wm.Running():
			close(r.running)
		case <-mctx.Done():
		}
	}()
	stopped := make(chan struct{})
	go func() {
		<-mctx.Done()
		r.stop(abandon)
		close(stopped)
	}()

	// The Watermill router runs on a context that the caller's cancellation
	// does not reach: stop closes the subscribers itself first. (Watermill
	// cancels a handler's context as it starts closing, and a handler whose
	// context is done may skip closing its subscriber: deliveries under way
	// would be cut off instead of drained.)
	err := r.wm.Run(context.WithoutCancel(ctx))
	// Watermill's Run also returns once every handler has stopped, which
	// can come before the sources (which it does not run) are stopped and
	// have handed on what they read: wait for stop, starting it if
	// Watermill stopped on its own.
	stopMaintenance()
	<-stopped
	<-maintained
	for _, p := range r.pipelines {
		for _, s := range p.Sinks {
			if cerr := s.Publisher.Close(); cerr != nil {
				r.logger.Error("Closing sink failed", cerr, watermill.LogFields{"pipeline": p.Name, "sink": s.Name})
			}
		}
	}
	if cerr := r.cfg.Backend.close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (r *Router) addPipeline(p Pipeline, batcher *ingestBatcher) error {
	for _, s := range p.Sources {
		l := &ledSource{r: r, p: p, s: s, name: LeaseName(p.Name, s.Name), emit: r.emit(p, s, batcher), tried: make(chan struct{})}
		if r.cfg.Leadership != nil && !s.EveryInstance {
			r.led = append(r.led, l)
		} else {
			r.local = append(r.local, l)
		}
	}
	for _, s := range p.Sinks {
		deliver := r.deliveryHandler(p, s, false)
		var sub message.Subscriber
		var err error
		if s.OrderKey != nil {
			sub, err = r.cfg.Backend.(laneBackend).laneSubscriber(s, r.laneOwner(), r.logger)
		} else {
			sub, err = r.cfg.Backend.deliverySubscriber(s.Name, s.Concurrency, r.logger)
		}
		if err != nil {
			return fmt.Errorf("router: sink %q: %w", s.Name, err)
		}
		r.wm.AddConsumerHandler(fmt.Sprintf("%s.deliver.%s", p.Name, s.Name), Topic(p.Name), r.track(sub),
			r.deliveryHandler(p, s, s.OrderKey != nil))
		rsub, err := r.cfg.Backend.retrySubscriber(s.Concurrency, r.logger)
		if err != nil {
			return fmt.Errorf("router: sink %q: %w", s.Name, err)
		}
		// The retry topic (requeued failures, replayed poison) is delivered
		// outside any lane: for an ordered sink, out of its key's order.
		r.wm.AddConsumerHandler(fmt.Sprintf("%s.redeliver.%s", p.Name, s.Name), RetryTopic(p.Name, s.Name), r.track(rsub), deliver)
	}
	return nil
}

// stop is a clean stop: every source stops reading from its provider and
// hands on what it already read, which is ingested; every sink finishes
// what it is delivering, or hands it back to the topic, and claims nothing
// new; all within CloseTimeout, after which what is left is abandoned (and
// delivered again after a restart). Then the Watermill router closes.
func (r *Router) stop(abandon context.CancelFunc) {
	close(r.stopping)
	timer := time.AfterFunc(r.cfg.CloseTimeout, abandon)
	defer timer.Stop()
	var wg sync.WaitGroup
	if r.stopLed != nil {
		// Led sources stop (and hand on what they read) alongside the
		// others; then their leases are released so that another instance
		// takes them over at once.
		wg.Add(1)
		go func() { defer wg.Done(); r.stopLed() }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); stopAll(r.local) }()
	for _, s := range r.subscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(); err != nil {
				r.logger.Error("Closing subscriber", err, nil)
			}
		}()
	}
	wg.Wait()
	if err := r.wm.Close(); err != nil {
		r.logger.Error("Closing router", err, nil)
	}
}

func (r *Router) maintain(ctx context.Context) {
	t := time.NewTicker(r.cfg.MaintenanceInterval)
	defer t.Stop()
	for {
		r.cfg.Backend.maintain(ctx, stopLogger{r.logger, ctx.Done()})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
