package webhook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/store"
)

// State is whether an endpoint receives deliveries (store.EndpointState).
type State = store.EndpointState

const (
	// StateEnabled: deliveries go out.
	StateEnabled = store.EndpointEnabled
	// StateDisabled: nothing is sent; every message is poisoned with
	// ErrEndpointDisabled (replayable once the endpoint is enabled again).
	StateDisabled = store.EndpointDisabled
)

// ErrEndpointNotFound is returned when enabling or disabling an endpoint no
// sink has registered.
var ErrEndpointNotFound = errors.New("webhook: no such endpoint (a sink registers its endpoint on its first delivery)")

// EndpointState is an endpoint's stored state, a row of tributary_endpoints
// (store.Endpoint). It holds no secret: Endpoint is the URL without user
// info, query values replaced.
type EndpointState = store.Endpoint

// EndpointStates keeps endpoints' states where every instance sees them.
type EndpointStates interface {
	// Load returns the state of (pipeline, sink), registering endpoint as
	// enabled when nothing is stored yet.
	Load(ctx context.Context, pipeline, sink, endpoint string) (EndpointState, error)
	// Set stores s, whether or not anything was stored before.
	Set(ctx context.Context, s EndpointState) error
}

// PostgresEndpoints is EndpointStates in table tributary_endpoints (package
// store), with the operator's view: List, Enable, Disable.
type PostgresEndpoints struct {
	pool *pgxpool.Pool
}

// NewPostgresEndpoints returns the endpoint states in pool's database.
func NewPostgresEndpoints(pool *pgxpool.Pool) *PostgresEndpoints {
	return &PostgresEndpoints{pool: pool}
}

// Load implements EndpointStates (store.RegisterEndpoint).
func (e *PostgresEndpoints) Load(ctx context.Context, pipeline, sink, endpoint string) (EndpointState, error) {
	return store.RegisterEndpoint(ctx, e.pool, pipeline, sink, endpoint)
}

// Get returns the state of (pipeline, sink), ErrEndpointNotFound when none is stored.
func (e *PostgresEndpoints) Get(ctx context.Context, pipeline, sink string) (EndpointState, error) {
	s, err := store.GetEndpoint(ctx, e.pool, pipeline, sink)
	return s, notFound(err, pipeline, sink)
}

// notFound turns store.ErrNotFound into ErrEndpointNotFound.
func notFound(err error, pipeline, sink string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s/%s", ErrEndpointNotFound, pipeline, sink)
	}
	return err
}

// Set implements EndpointStates.
func (e *PostgresEndpoints) Set(ctx context.Context, s EndpointState) error {
	return store.PutEndpoint(ctx, e.pool, s)
}

// Enable enables a registered endpoint; by names who did it.
func (e *PostgresEndpoints) Enable(ctx context.Context, pipeline, sink, by string) (EndpointState, error) {
	s, err := store.SetEndpointState(ctx, e.pool, pipeline, sink, StateEnabled, "", by)
	return s, notFound(err, pipeline, sink)
}

// Disable disables a registered endpoint: its messages are poisoned until it
// is enabled again. by names who did it.
func (e *PostgresEndpoints) Disable(ctx context.Context, pipeline, sink, reason, by string) (EndpointState, error) {
	s, err := store.SetEndpointState(ctx, e.pool, pipeline, sink, StateDisabled, reason, by)
	return s, notFound(err, pipeline, sink)
}

// EndpointFilter selects endpoints; zero fields match everything.
type EndpointFilter = store.EndpointFilter

// List returns the stored endpoints by pipeline and sink.
func (e *PostgresEndpoints) List(ctx context.Context, f EndpointFilter) ([]EndpointState, error) {
	return store.Endpoints(ctx, e.pool, f)
}

// endpointCache is the Publisher's view of its endpoint's state, one entry
// per pipeline it delivers for. Without a store it is the only state (lost
// on restart). With one, an entry is re-read at most every refresh, before a
// delivery, in a statement of its own — never inside a transaction and never
// across the HTTP call — so a disable by another instance or an operator
// takes effect within refresh. A failed read keeps the last known state and
// is tried again after refresh, not on every message.
type endpointCache struct {
	store    EndpointStates // nil: in memory only
	endpoint string         // redacted URL
	refresh  time.Duration
	now      func() time.Time
	logger   watermill.LoggerAdapter
	by       string // changed_by of a 410 disable

	mu      sync.Mutex
	entries map[[2]string]*cacheEntry
}

type cacheEntry struct {
	mu     sync.Mutex
	state  State
	reason string
	readAt time.Time // zero: never read
}

func newEndpointCache(cfg Config, endpoint string, logger watermill.LoggerAdapter) *endpointCache {
	host, _ := os.Hostname()
	return &endpointCache{store: cfg.State, endpoint: endpoint, refresh: cfg.StateRefresh, now: cfg.Now, logger: logger,
		by: "webhook sink on " + host + " (pid " + strconv.Itoa(os.Getpid()) + ")", entries: map[[2]string]*cacheEntry{}}
}

func (c *endpointCache) entry(pipeline, sink string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{pipeline, sink}
	e := c.entries[k]
	if e == nil {
		e = &cacheEntry{state: StateEnabled}
		c.entries[k] = e
	}
	return e
}

// disabled reports whether (pipeline, sink) is disabled, and why.
func (c *endpointCache) disabled(ctx context.Context, pipeline, sink string) (bool, string) {
	e := c.entry(pipeline, sink)
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.store != nil && (e.readAt.IsZero() || c.now().Sub(e.readAt) >= c.refresh) {
		e.readAt = c.now()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s, err := c.store.Load(rctx, pipeline, sink, c.endpoint)
		cancel()
		switch {
		case err != nil:
			c.logger.Error("Reading the endpoint state failed; keeping the last known", err,
				watermill.LogFields{"pipeline": pipeline, "state": string(e.state)})
		case s.State == StateDisabled && s.Endpoint != c.endpoint:
			// Disabled for another URL: the sink has been pointed elsewhere since.
			if e.state != StateEnabled {
				c.logger.Info("Endpoint state is for another URL; ignored", watermill.LogFields{"pipeline": pipeline, "stored_endpoint": s.Endpoint})
			}
			e.state, e.reason = StateEnabled, ""
		default:
			if s.State != e.state {
				c.logger.Info("Endpoint state changed", watermill.LogFields{
					"pipeline": pipeline, "state": string(s.State), "reason": s.Reason, "changed_by": s.ChangedBy})
			}
			e.state, e.reason = s.State, s.Reason
		}
	}
	return e.state == StateDisabled, e.reason
}

// disable records a 410: at once in memory, then in the store.
func (c *endpointCache) disable(ctx context.Context, pipeline, sink, reason string) {
	e := c.entry(pipeline, sink)
	e.mu.Lock()
	was := e.state
	e.state, e.reason = StateDisabled, reason
	if c.store != nil {
		e.readAt = c.now()
	}
	e.mu.Unlock()
	if was != StateDisabled {
		c.logger.Error("Endpoint answered 410 Gone; disabled until re-enabled", fmt.Errorf("%w: %s", ErrEndpointDisabled, reason),
			watermill.LogFields{"pipeline": pipeline})
	}
	if c.store == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := c.store.Set(sctx, EndpointState{Pipeline: pipeline, Sink: sink, Endpoint: c.endpoint,
		State: StateDisabled, Reason: reason, ChangedBy: c.by})
	if err != nil {
		c.logger.Error("Storing the endpoint's disabled state failed; it holds in this process only", err,
			watermill.LogFields{"pipeline": pipeline})
	}
}

// enable forgets every entry: the next delivery reads the store again.
func (c *endpointCache) enable() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[[2]string]*cacheEntry{}
}

// anyDisabled reports whether some pipeline's entry is disabled.
func (c *endpointCache) anyDisabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		e.mu.Lock()
		d := e.state == StateDisabled
		e.mu.Unlock()
		if d {
			return true
		}
	}
	return false
}
