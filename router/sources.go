package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/router/leader"
)

// Leadership makes several instances on one Postgres database share the
// sources: each source not marked EveryInstance runs in exactly one
// instance at a time, sources are spread over the live instances, and when
// an instance dies (or stops) another takes its sources over from their
// checkpoints. See package router/leader for the mechanism.
type Leadership struct {
	// Instance identifies this process; host-pid-random when empty.
	Instance string
	// Host is shown by `tributary status`; os.Hostname() when empty.
	Host string
	// TTL is the lease TTL: a source whose leader died is taken over within
	// TTL + TTL/3 and starts TTL/4 later (the grace a leader whose lease
	// ran out has to finish stopping it); 15 s when zero.
	TTL time.Duration
}

// InstanceID is this router's instance id once Run started leadership, ""
// before or without it.
func (r *Router) InstanceID() string {
	r.ledMu.Lock()
	defer r.ledMu.Unlock()
	if r.elector == nil {
		return ""
	}
	return r.elector.Instance()
}

// LeaseName is the name of a source's lease.
func LeaseName(pipeline, source string) string { return pipeline + "/" + source }

// ledSource is a source the router starts and stops while it runs: as
// leadership comes and goes, or (every-instance sources, and every source
// without Leadership) once at Run and once at stop. It holds no goroutine
// while the source runs: set starts one (apply) only to carry out a change
// of the wanted state, so a start never overlaps the stop before it, and a
// thousand idle sources cost nothing here.
type ledSource struct {
	r    *Router
	p    Pipeline
	s    Source
	emit tributary.Emit
	name string

	mu      sync.Mutex
	want    bool
	running bool
	busy    bool       // apply is under way
	cur     *sourceRun // the run under way, nil when stopped
	retry   *time.Timer
	// failure is why the source stopped on its own, nil while it runs or
	// after a stop it was asked for.
	failure *SourceFailure
	// tried is closed once the first start has been tried (Run waits for
	// it before it reports the router running).
	tried     chan struct{}
	triedOnce sync.Once
}

// SourceFailure is a source that stopped on its own (failed for good): it
// stays stopped, keeping its lease (so that it does not hop from instance
// to instance), until the process restarts.
type SourceFailure struct {
	Pipeline string    `json:"pipeline"`
	Source   string    `json:"source"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

func (l *ledSource) set(want bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want = want
	if !l.busy {
		l.busy = true
		go l.apply()
	}
}

// stopped waits until the source is not running and reports true, or
// false once ctx ended first.
func (l *ledSource) stopped(ctx context.Context) bool {
	for {
		l.mu.Lock()
		done := !l.running && !l.want
		l.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// apply starts or stops the source until it is in the wanted state.
func (l *ledSource) apply() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		switch {
		case l.want && l.cur == nil && l.failure == nil:
			// running covers the start itself: a Stop arriving meanwhile
			// must not see the source as stopped (stopped would return
			// and the lease be handed on while this start completes).
			l.running = true
			l.mu.Unlock()
			run, err := l.start()
			l.triedOnce.Do(func() { close(l.tried) })
			l.mu.Lock()
			if err != nil {
				l.running = false
				l.r.logger.Error("Starting source failed; trying again in 5 s", err,
					watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
				if l.retry == nil {
					l.retry = time.AfterFunc(5*time.Second, func() {
						l.mu.Lock()
						want := l.want
						l.mu.Unlock()
						l.set(want)
					})
				} else {
					l.retry.Reset(5 * time.Second)
				}
				l.busy = false
				return
			}
			l.cur = run
		case !l.want && l.cur != nil:
			run := l.cur
			l.mu.Unlock()
			run.stop()
			l.mu.Lock()
			l.cur = nil
			l.running = false
		default:
			l.busy = false
			return
		}
	}
}

// sourceRun is one run of a source, from Start to its stopped call.
type sourceRun struct {
	l      *ledSource
	cancel context.CancelFunc
	done   chan struct{} // closed by the source's stopped call
	once   sync.Once
}

func (l *ledSource) start() (*sourceRun, error) {
	instrument(l.r.cfg.Metrics, l.s.Source, l.p.Name, l.s.Name)
	ctx, cancel := context.WithCancel(context.Background())
	run := &sourceRun{l: l, cancel: cancel, done: make(chan struct{})}
	var once sync.Once
	err := l.s.Source.Start(ctx, l.emit, func(err error) {
		once.Do(func() {
			close(run.done)
			if ctx.Err() == nil {
				l.failed(run, err)
			}
		})
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if l.led() {
		l.r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, l.r.InstanceID()).Set(1)
	}
	l.r.logger.Info("Source started", watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name, "instance": l.r.InstanceID()})
	return run, nil
}

// led reports whether leadership runs the source (tributary_source_leader
// is about those only: every instance runs the others).
func (l *ledSource) led() bool { return l.r.cfg.Leadership != nil && !l.s.EveryInstance }

// failed records a source that stopped on its own: it keeps its lease and
// stays stopped; the router reports it (Router.SourceFailures).
func (l *ledSource) failed(run *sourceRun, err error) {
	if err == nil {
		err = tributary.ErrSourceStopped
	}
	f := SourceFailure{Pipeline: l.p.Name, Source: l.s.Name, Reason: err.Error(), At: time.Now()}
	l.mu.Lock()
	l.failure = &f
	l.want = false
	l.mu.Unlock()
	l.r.sourceFailed(f)
	go func() {
		// The run ended; what is left is its bookkeeping.
		l.mu.Lock()
		if l.cur == run {
			l.cur = nil
			l.running = false
		}
		l.mu.Unlock()
		run.stop()
	}()
}

// stop asks the source to stop: it stops reading its provider at once and
// hands on what it already read, which is ingested (within CloseTimeout).
func (run *sourceRun) stop() {
	run.once.Do(func() {
		l := run.l
		run.cancel()
		t := time.NewTimer(l.r.cfg.CloseTimeout)
		select {
		case <-run.done:
		case <-t.C:
			l.r.logger.Error("Source did not hand on what it read within the close timeout", nil,
				watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
		}
		t.Stop()
		if l.led() {
			l.r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, l.r.InstanceID()).Set(0)
		}
		l.r.logger.Info("Source stopped", watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name, "instance": l.r.InstanceID()})
	})
}

// startLeadership runs the elector over the led sources until ctx ends;
// the returned function waits until every led source is stopped and the
// leases are released.
func (r *Router) startLeadership(ctx context.Context, led []*ledSource) (wait func(), err error) {
	pool := leaseDB(r.cfg.Backend)
	if pool == nil {
		return nil, errors.New("router: Leadership needs a backend with a PostgreSQL pool")
	}
	byName := map[string]*ledSource{}
	names := make([]string, 0, len(led))
	for _, l := range led {
		byName[l.name] = l
		names = append(names, l.name)
	}
	el, err := leader.New(leader.Config{
		Pool: pool, Instance: r.cfg.Leadership.Instance, Host: r.cfg.Leadership.Host,
		// A lease call cut off by the stop is the stop, not a failure.
		TTL: r.cfg.Leadership.TTL, Names: names, Logger: stopLogger{r.logger, r.stopping},
		Start:   func(n string) { byName[n].set(true) },
		Stop:    func(n string) { byName[n].set(false) },
		Stopped: func(ctx context.Context, n string) bool { return byName[n].stopped(ctx) },
	})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	r.ledMu.Lock()
	r.elector = el
	r.ledMu.Unlock()
	for _, l := range led {
		r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, el.Instance()).Set(0)
	}
	elDone := make(chan struct{})
	go func() { defer close(elDone); el.Run(ctx) }()
	return func() {
		<-elDone
		stopAll(led)
	}, nil
}

// sourceFailed records and reports a source that stopped on its own.
func (r *Router) sourceFailed(f SourceFailure) {
	r.ledMu.Lock()
	r.failures = append(r.failures, f)
	r.ledMu.Unlock()
	metrics.NewSource(r.cfg.Metrics, f.Pipeline, f.Source).Up.Set(0)
	r.logger.Error("Source stopped for good; the rest of the process runs on", errors.New(f.Reason),
		watermill.LogFields{"pipeline": f.Pipeline, "source": f.Source})
	r.firstFailure.Do(func() { close(r.failed) })
}

// SourceFailures lists the sources that stopped on their own (failed for
// good), oldest first: they stay stopped while the process runs.
func (r *Router) SourceFailures() []SourceFailure {
	r.ledMu.Lock()
	defer r.ledMu.Unlock()
	return append([]SourceFailure(nil), r.failures...)
}

// SourceFailed is closed when the first source fails for good.
func (r *Router) SourceFailed() <-chan struct{} { return r.failed }

// stopAll stops the sources and waits until every one is stopped.
func stopAll(sources []*ledSource) {
	for _, l := range sources {
		l.set(false)
	}
	for _, l := range sources {
		l.stopped(context.Background())
	}
}

// leaseDB is the PostgreSQL pool a backend keeps its shared state in, where
// source leases live too: the Postgres backend's, or the JetStream
// backend's (dedup keys, poison, delivery log); nil for the memory backend.
func leaseDB(b Backend) *pgxpool.Pool {
	switch b := b.(type) {
	case *PostgresBackend:
		return b.Pool
	case *JetStreamBackend:
		return b.cfg.Pool
	}
	return nil
}
