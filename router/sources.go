package router

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/router/leader"
)

// Leadership makes several instances on one Postgres database share the
// sources: each source given with a New factory runs in exactly one
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

// ledSource is a source the router starts and stops while it runs, as
// leadership comes and goes. One goroutine (loop) applies the wanted state,
// so a start never overlaps the stop before it.
type ledSource struct {
	r       *Router
	p       Pipeline
	s       Source
	handler message.NoPublishHandlerFunc
	// groupHandler stores a BatchFuncSubscriber's group.
	groupHandler func(context.Context, []*message.Message) error
	name         string

	mu      sync.Mutex
	want    bool
	running bool
	poke    chan struct{}
}

func (l *ledSource) set(want bool) {
	l.mu.Lock()
	l.want = want
	l.mu.Unlock()
	select {
	case l.poke <- struct{}{}:
	default:
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

// loop runs until quit is closed and the source is stopped.
func (l *ledSource) loop(quit <-chan struct{}) {
	var cur *sourceRun
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		l.mu.Lock()
		want := l.want
		l.mu.Unlock()
		switch {
		case want && cur == nil:
			// running covers the start itself: a Stop arriving meanwhile
			// must not see the source as stopped (stopped would return
			// and the lease be handed on while this start completes).
			l.mu.Lock()
			l.running = true
			l.mu.Unlock()
			run, err := l.start()
			if err != nil {
				l.mu.Lock()
				l.running = false
				l.mu.Unlock()
				l.r.logger.Error("Starting source failed; trying again in 5 s", err,
					watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
				retry.Reset(5 * time.Second)
				break
			}
			cur = run
		case !want && cur != nil:
			cur.stop()
			cur = nil
			l.mu.Lock()
			l.running = false
			l.mu.Unlock()
		}
		if cur != nil {
			select {
			case <-l.poke:
			case <-retry.C:
			case <-cur.done:
				// The source stopped on its own (failed for good): it
				// keeps its lease, so that it does not hop from instance
				// to instance; the monitor reports it.
				cur.stop()
				cur = nil
				l.mu.Lock()
				l.running = false
				l.want = false
				l.mu.Unlock()
			}
			continue
		}
		select {
		case <-l.poke:
		case <-retry.C:
		case <-quit:
			return
		}
	}
}

// sourceRun is one subscription of a led source.
type sourceRun struct {
	l      *ledSource
	sub    message.Subscriber
	cancel context.CancelFunc
	done   chan struct{} // closed when the channel closed and every message was handled
	once   sync.Once
	// byFunc: the source is a FuncSubscriber, done when Close returned.
	byFunc bool
}

func (l *ledSource) start() (*sourceRun, error) {
	sub, err := l.s.New()
	if err != nil {
		return nil, err
	}
	instrument(l.r.cfg.Metrics, sub, l.p.Name, l.s.Name)
	ctx, cancel := context.WithCancel(context.Background())
	run := &sourceRun{l: l, sub: sub, cancel: cancel, done: make(chan struct{})}
	if takesFunc(sub) {
		// No channel, no goroutine of ours: the source calls handle. It
		// never stops on its own; stop marks it done once Close returned
		// (no handle call is under way then).
		f := funcSource{sub: sub, topic: l.s.Topic, handle: l.handle, group: l.handleGroup}
		if err := f.subscribe(ctx); err != nil {
			cancel()
			_ = sub.Close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		run.byFunc = true
		l.started()
		return run, nil
	}
	ch, err := sub.Subscribe(ctx, l.s.Topic)
	if err != nil {
		cancel()
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	l.started()
	go func() {
		var wg sync.WaitGroup
		for msg := range ch {
			wg.Add(1)
			go func() { defer wg.Done(); l.handle(msg) }()
		}
		wg.Wait()
		close(run.done)
	}()
	return run, nil
}

func (l *ledSource) started() {
	l.r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, l.r.InstanceID()).Set(1)
	l.r.logger.Info("Source started", watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name, "instance": l.r.InstanceID()})
}

// handle is what Watermill's router does with a message: the handler's
// error nacks it (the source redelivers), a panic too.
func (l *ledSource) handle(msg *message.Message) {
	defer func() {
		if rec := recover(); rec != nil {
			l.r.logger.Error("Panic recovered in source handler. Stack: "+string(debug.Stack()),
				fmt.Errorf("%v", rec), watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
			msg.Nack()
		}
	}()
	if err := l.handler(msg); err != nil {
		if !errors.Is(err, context.Canceled) {
			l.r.logger.Error("Handler returned error", err, watermill.LogFields{
				"pipeline": l.p.Name, "source": l.s.Name, "message_uuid": msg.UUID})
		}
		msg.Nack()
		return
	}
	msg.Ack()
}

// handleGroup is handle for a BatchFuncSubscriber's group: every message
// is acked once the group is committed, or every one nacked.
func (l *ledSource) handleGroup(ctx context.Context, msgs []*message.Message) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			l.r.logger.Error("Panic recovered in source handler. Stack: "+string(debug.Stack()),
				fmt.Errorf("%v", rec), watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
			err = fmt.Errorf("panic: %v", rec)
		}
		for _, m := range msgs {
			if err != nil {
				m.Nack()
			} else {
				m.Ack()
			}
		}
	}()
	return l.groupHandler(ctx, msgs)
}

// stop closes the source: it stops reading its provider at once and hands
// on what it already read, which is ingested (within CloseTimeout); then
// the subscription's context ends.
func (run *sourceRun) stop() {
	run.once.Do(func() {
		l := run.l
		if err := run.sub.Close(); err != nil {
			l.r.logger.Error("Closing source", err, watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
		}
		if run.byFunc {
			close(run.done)
		}
		t := time.NewTimer(l.r.cfg.CloseTimeout)
		select {
		case <-run.done:
		case <-t.C:
			l.r.logger.Error("Source did not hand on what it read within the close timeout", nil,
				watermill.LogFields{"pipeline": l.p.Name, "source": l.s.Name})
		}
		t.Stop()
		run.cancel()
		l.r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, l.r.InstanceID()).Set(0)
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
		TTL: r.cfg.Leadership.TTL, Names: names, Logger: r.logger,
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
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range led {
		r.metrics.SourceLeader.WithLabelValues(l.p.Name, l.s.Name, el.Instance()).Set(0)
		wg.Add(1)
		go func() { defer wg.Done(); l.loop(quit) }()
	}
	elDone := make(chan struct{})
	go func() { defer close(elDone); el.Run(ctx) }()
	return func() {
		<-elDone
		for _, l := range led {
			l.set(false)
		}
		close(quit)
		wg.Wait()
	}, nil
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
