// Package leader elects, among the instances sharing one PostgreSQL
// database, one leader per named task (a router's sources), spreads the
// tasks over the live instances and fails over when an instance dies.
//
// Mechanism: a lease row per task in tributary_leases (owner, expires_at),
// as River and Convoy do, rather than session advisory locks: a lease
// survives a connection blip of a healthy leader, needs no connection held
// per task, can be inspected (`tributary status`), and lets an instance
// hand a task over on purpose (resign = release + NOTIFY). An instance
// registers in tributary_instances and heartbeats there; the live instances
// decide the fair share.
//
// Generations: a lease row is never deleted. Its fence counts the
// acquisitions and only grows; a release clears the owner and expires the
// row. Every write an owner makes (renew, release) names the fence it
// acquired, so a late one — a release that was slow to reach the database
// after the lease changed hands — changes nothing. An instance never takes
// a lease that is not free in the database (its own unexpired row
// included), keeps a resigned lease as held until its release committed,
// and does not take back a lease it handed over within the settling time
// (the TTL) while another live instance can take it: a hand-over is neither
// undone by a late release nor flapped back.
//
// Fencing: the owner renews its leases every TTL/3. It measures its own
// deadline on its monotonic clock from the START of its last successful
// renew: deadline = renewStart + TTL − Margin. The database set expires_at
// = now() + TTL with now() taken after the renew was sent, so expires_at ≥
// renewStart + TTL: the owner stops its task (Stop is called) before any
// other instance can acquire the lease, even when it cannot reach the
// database at all. Stop makes a task stop reading at once, but it may take
// a while to hand on what it read (a socket leaving, a batch being stored);
// so a lease taken over from a leader that did not release it (its deadline
// passed, or it died) starts its task only Grace after the acquire: the old
// leader has Margin + Grace from its deadline to finish stopping. A task is
// therefore never run by two instances at once, provided it stops within
// that time (a released lease was released after its task stopped, and
// starts at once).
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pglisten"
	"github.com/tributary-dev/tributary/store"
)

// Channel is the LISTEN/NOTIFY channel on which lease changes are announced
// (payload: the lease name, or "" for an instance joining).
const Channel = store.LeaseChannel

// Config configures an Elector.
type Config struct {
	// Pool is the shared database (migration 00014 applied).
	Pool *pgxpool.Pool
	// Instance identifies this process among the instances; host-pid-random
	// when empty. It must be unique per running process.
	Instance string
	// Host is shown by `tributary status`; os.Hostname() when empty.
	Host string
	// TTL is how long a lease lasts unless renewed: how long a task waits
	// after its leader died before another instance takes it over (plus
	// up to TTL/3 until that instance looks). 15 s when zero; at least 1 s.
	TTL time.Duration
	// Margin is how long before the lease could expire the leader stops a
	// task it could not renew; TTL/4 when zero.
	Margin time.Duration
	// Grace is how long a task taken over from a leader that did not
	// release its lease waits before it starts, for that leader to finish
	// stopping it; Margin when zero. A crashed leader's tasks are taken over
	// within TTL + TTL/3 + Grace.
	Grace time.Duration
	// Names are the tasks competed for (a router's "pipeline/source").
	Names []string
	// Start is called when this instance becomes a task's leader, Stop when
	// it stops being it (lease lost, expired or resigned, or Run ending).
	// Both must not block long nor call the Elector (a Start delayed by
	// Grace is called with its lock held; see Grace): Stop
	// must make the task stop reading at once (it may finish handing on
	// what it read afterwards).
	Start, Stop func(name string)
	// Stopped, when set, waits until a task Stop was called for has
	// stopped; a resigning leader deletes its lease only after it returns.
	// It reports whether the task stopped (false: ctx ended first). A
	// lease is released only once its task stopped: a resigning leader
	// keeps (and renews) a lease whose task is slow to stop, and one
	// stopping leaves such a lease to expire.
	Stopped func(ctx context.Context, name string) bool
	// Logger; NopLogger when nil.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	if c.TTL == 0 {
		c.TTL = 15 * time.Second
	}
	if c.Margin == 0 {
		c.Margin = c.TTL / 4
	}
	if c.Grace == 0 {
		c.Grace = c.Margin
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Instance == "" {
		c.Instance = NewInstanceID(c.Host)
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
	if c.Start == nil {
		c.Start = func(string) {}
	}
	if c.Stop == nil {
		c.Stop = func(string) {}
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("leader: Config.Pool is required"))
	}
	if c.TTL != 0 && c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("leader: lease TTL %v is below 1s", c.TTL))
	}
	if c.Margin < 0 || (c.TTL > 0 && c.Margin >= c.TTL/3) {
		errs = append(errs, fmt.Errorf("leader: margin %v must be between 0 and a third of the TTL", c.Margin))
	}
	if c.Grace < 0 || (c.TTL > 0 && c.Grace > c.TTL) {
		errs = append(errs, fmt.Errorf("leader: grace %v must be between 0 and the TTL", c.Grace))
	}
	return errors.Join(errs...)
}

// NewInstanceID returns host-pid-<6 random hex digits>.
func NewInstanceID(host string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	if host == "" {
		host = "instance"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Elector holds this instance's leases.
type Elector struct {
	cfg Config

	mu   sync.Mutex
	held map[string]*held
	// wake is poked by notifications and by an expired lease.
	wake chan struct{}
	// announced is set once the instance told the others it joined.
	announced bool
	// resigned is when this instance last handed each lease over, and at
	// which fence.
	resigned map[string]resignation
	// acquired is the fence at which this instance last acquired each lease.
	acquired map[string]int64
	// resigns counts hand-overs under way: Run waits for them, so that
	// none writes to the pool after Run returned (its owner closes it).
	resigns sync.WaitGroup
}

type resignation struct {
	at    time.Time
	fence int64
}

type held struct {
	fence     int64     // the generation this instance acquired
	deadline  time.Time // monotonic
	timer     *time.Timer
	resigning bool
	// starting is the Grace timer of a lease taken over from a leader that
	// did not release it; stopping marks a lease whose task Stop was (or is
	// about to be) called for, so that such a timer no longer starts it.
	starting *time.Timer
	stopping bool
}

// stopLocked marks h stopping, so that a pending delayed start does not
// start its task after the Stop its caller makes next; e.mu is held.
func (h *held) stopLocked() {
	h.stopping = true
	if h.starting != nil {
		h.starting.Stop()
	}
}

// New builds an Elector; Run starts it.
func New(cfg Config) (*Elector, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Names = slices.Clone(cfg.Names)
	sort.Strings(cfg.Names)
	return &Elector{cfg: cfg, held: map[string]*held{}, resigned: map[string]resignation{}, acquired: map[string]int64{},
		wake: make(chan struct{}, 1)}, nil
}

// Instance is this instance's id.
func (e *Elector) Instance() string { return e.cfg.Instance }

// Held lists the tasks this instance leads now.
func (e *Elector) Held() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for n := range e.held {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (e *Elector) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run registers the instance and keeps competing for the leases until ctx
// ends. It then stops every task it leads, waits for them (Stopped), and
// releases the leases so that other instances take over at once.
func (e *Elector) Run(ctx context.Context) {
	lctx, stopListen := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.listen(lctx) }()
	every := e.cfg.TTL / 3
	t := time.NewTicker(every)
	for {
		e.step(ctx)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-e.wake:
		}
		if ctx.Err() != nil {
			break
		}
	}
	t.Stop()
	stopListen()
	wg.Wait()
	e.release()
	resigned := make(chan struct{})
	go func() { e.resigns.Wait(); close(resigned) }()
	select {
	case <-resigned:
	case <-time.After(stopWait):
	}
}

// release stops every task and waits for them, renewing their leases
// meanwhile (a source may take a while to hand on what it read: were the
// leases left alone, they would expire and another instance would start a
// task still stopping here), then deletes the instance row and releases
// the leases of the tasks that stopped, announcing each. A task that has
// not stopped after stopWait keeps its lease until it expires.
func (e *Elector) release() {
	names, fences := e.heldFences()
	e.mu.Lock()
	for _, h := range e.held {
		h.stopLocked()
	}
	e.mu.Unlock()
	for _, n := range names {
		e.cfg.Stop(n)
	}
	renewing, stopRenewing := context.WithCancel(context.Background())
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(e.cfg.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-renewing.Done():
				return
			case <-t.C:
			}
			qctx, cancel := context.WithTimeout(renewing, e.cfg.TTL/3)
			if err := e.renew(qctx); err != nil && renewing.Err() == nil {
				e.cfg.Logger.Error("Renewing leases while sources stop failed", err, watermill.LogFields{"instance": e.cfg.Instance})
			}
			cancel()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	if e.cfg.Stopped != nil {
		var stopped []string
		var stoppedFences []int64
		for i, n := range names {
			if e.cfg.Stopped(ctx, n) {
				stopped, stoppedFences = append(stopped, n), append(stoppedFences, fences[i])
			} else {
				e.cfg.Logger.Error("A source did not stop in time; its lease is left to expire after its TTL, not handed on",
					ctx.Err(), watermill.LogFields{"lease": n, "instance": e.cfg.Instance})
			}
		}
		names, fences = stopped, stoppedFences
	}
	stopRenewing()
	<-renewed
	e.mu.Lock()
	for _, h := range e.held {
		h.timer.Stop()
	}
	e.held = map[string]*held{}
	e.mu.Unlock()
	if len(names) > 0 {
		time.Sleep(handOverGrace)
	}
	// Deregistered first, so that the others, woken by the release, count
	// this instance gone and take its share at once.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if err := store.DeleteInstance(dctx, e.cfg.Pool, e.cfg.Instance); err != nil {
		e.cfg.Logger.Error("Deregistering the instance failed; it shows as gone after its TTL", err, nil)
	}
	if len(names) > 0 {
		if err := e.releaseLeases(dctx, names, fences); err != nil {
			e.cfg.Logger.Error("Releasing leases failed; they expire after their TTL", err, nil)
		}
	}
}

// listen wakes the loop when another instance releases a lease or joins,
// on a dedicated connection. A lost notification costs at most TTL/3.
func (e *Elector) listen(ctx context.Context) {
	pglisten.Run(ctx, e.cfg.Pool.Config().ConnConfig, Channel, e.poke, func(string) { e.poke() }, func(err error) {
		e.cfg.Logger.Debug("Listening for lease changes failed; looking every TTL/3 until it reconnects",
			watermill.LogFields{"err": err.Error()})
	})
}

// step heartbeats, renews, then resigns a surplus lease or acquires free
// ones. Every query is bounded by TTL/3 so that a stalled database delays
// the next step, never the deadlines (they run on timers).
func (e *Elector) step(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, e.cfg.TTL/3)
	defer cancel()
	if err := e.renew(qctx); err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Error("Renewing leases failed; sources stop at their deadline unless the next try works", err,
				watermill.LogFields{"instance": e.cfg.Instance})
		}
		return
	}
	live, counts, err := e.loads(qctx)
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Error("Reading instance loads failed", err, nil)
		}
		return
	}
	e.balance(qctx, live, counts)
}

// renew heartbeats the instance and extends the leases still held.
func (e *Elector) renew(ctx context.Context) error {
	if err := store.HeartbeatInstance(ctx, e.cfg.Pool, e.cfg.Instance, e.cfg.Host, os.Getpid(), e.cfg.TTL, e.cfg.Names); err != nil {
		return err
	}
	if !e.announced {
		// A new instance: the others look at their share now, not at
		// their next step.
		if err := store.AnnounceLeases(ctx, e.cfg.Pool); err == nil {
			e.announced = true
		}
	}
	names, fences := e.heldFences()
	if len(names) == 0 {
		return nil
	}
	start := time.Now()
	renewed, err := store.RenewLeases(ctx, e.cfg.Pool, e.cfg.Instance, names, fences, e.cfg.TTL)
	if err != nil {
		return err
	}
	for i, n := range names {
		if slices.Contains(renewed, n) {
			e.extend(n, start, fences[i])
		} else {
			e.lose(n, fences[i], "the lease was taken, released or deleted")
		}
	}
	return nil
}

// heldFences lists the leases held now with the fence each was acquired at.
func (e *Elector) heldFences() ([]string, []int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.held))
	fences := make([]int64, 0, len(e.held))
	for n, h := range e.held {
		names = append(names, n)
		fences = append(fences, h.fence)
	}
	return names, fences
}

// releaseLeases frees the named leases, each only if this instance still
// holds it at the given fence, and announces each one freed.
func (e *Elector) releaseLeases(ctx context.Context, names []string, fences []int64) error {
	return store.ReleaseLeases(ctx, e.cfg.Pool, e.cfg.Instance, names, fences)
}

// loads returns how many live instances compete for this instance's leases
// and how many of them each holds (those holding none included, as 0).
func (e *Elector) loads(ctx context.Context) (int, map[string]int, error) {
	counts, err := store.LeaseLoads(ctx, e.cfg.Pool, e.cfg.Names)
	if err != nil {
		return 0, nil, err
	}
	counts[e.cfg.Instance] = len(e.Held())
	return len(counts), counts, nil
}

// balance keeps this instance at its share: at most ceil(names/live), and
// not two above the least loaded live instance. It resigns at most one lease
// a step (so that the instances converge without flapping), acquires free
// leases while below its share, and does not take back a lease it resigned
// within the settling time (the TTL) while another live instance could
// take it and none has taken it since (acquire's settled).
func (e *Elector) balance(ctx context.Context, live int, counts map[string]int) {
	total := len(e.cfg.Names)
	if total == 0 {
		return
	}
	share := (total + live - 1) / live
	least := total
	for _, n := range counts {
		least = min(least, n)
	}
	e.mu.Lock()
	mine := 0
	var resign string
	for n, h := range e.held {
		if !h.resigning {
			mine++
			if resign == "" || n > resign {
				resign = n
			}
		}
	}
	e.mu.Unlock()
	if mine > share || mine >= least+2 {
		e.resign(resign)
		return
	}
	if mine >= share {
		return
	}
	for _, name := range e.cfg.Names {
		if mine >= share || ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		_, have := e.held[name]
		var settled int64 // the fence of a hand-over of ours still settling
		if r := e.resigned[name]; time.Since(r.at) < e.cfg.TTL && live > 1 {
			settled = r.fence
		}
		e.mu.Unlock()
		if have {
			continue
		}
		ok, err := e.acquire(ctx, name, settled)
		if err != nil {
			e.cfg.Logger.Error("Acquiring a lease failed", err, watermill.LogFields{"lease": name})
			return
		}
		if ok {
			mine++
		}
	}
}

// acquire takes name if it is free (released or expired) in the database,
// as the next generation (fence). A row this Elector acquired that has not
// expired is not free: it is one being released, or one whose deadline
// passed here first. A row under this instance id from an earlier process
// (restarted with the same id) is taken at once. A lease this instance
// handed over at fence settled is not taken back until another instance
// has taken it since (its fence moved on): a hand-over is not undone while
// it settles, though a lease its new leader gave up again is taken.
func (e *Elector) acquire(ctx context.Context, name string, settled int64) (bool, error) {
	start := time.Now()
	e.mu.Lock()
	mine := e.acquired[name]
	e.mu.Unlock()
	fence, prev, ok, err := store.AcquireLease(ctx, e.cfg.Pool, name, e.cfg.Instance, e.cfg.TTL, mine, settled)
	if !ok || err != nil {
		return false, err
	}
	e.mu.Lock()
	h := &held{fence: fence}
	e.held[name] = h
	e.acquired[name] = fence
	e.mu.Unlock()
	e.extend(name, start, fence)
	fields := watermill.LogFields{"lease": name, "instance": e.cfg.Instance, "fence": fence}
	if prev == "" || prev == e.cfg.Instance || e.cfg.Grace <= 0 {
		// Released after its task stopped (or ours from a process with
		// this id, which is gone): nothing else runs it.
		e.cfg.Logger.Info("Leading source", fields)
		e.cfg.Start(name)
		return true, nil
	}
	// Taken from a leader whose lease ran out: it stopped reading at its
	// deadline but may still be handing on what it read.
	fields["after"] = e.cfg.Grace.String()
	fields["from"] = prev
	e.cfg.Logger.Info("Leading source", fields)
	e.mu.Lock()
	h.starting = time.AfterFunc(e.cfg.Grace, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if cur, ok := e.held[name]; ok && cur == h && !h.stopping && !h.resigning {
			e.cfg.Start(name) // under the lock: no Stop can come between
		}
	})
	e.mu.Unlock()
	return true, nil
}

// extend moves name's deadline to start + TTL − Margin if it is still
// held at fence.
func (e *Elector) extend(name string, start time.Time, fence int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.held[name]
	if !ok || h.fence != fence {
		return
	}
	h.deadline = start.Add(e.cfg.TTL - e.cfg.Margin)
	wait := time.Until(h.deadline)
	if h.timer == nil {
		h.timer = time.AfterFunc(wait, func() { e.expired(name, h) })
	} else {
		h.timer.Reset(wait)
	}
}

// expired runs at a lease's deadline: unless it was renewed meanwhile, the
// task stops now, before the lease can expire in the database.
func (e *Elector) expired(name string, h *held) {
	e.mu.Lock()
	cur, ok := e.held[name]
	if !ok || cur != h || time.Now().Before(h.deadline) {
		e.mu.Unlock()
		return
	}
	delete(e.held, name)
	h.stopLocked()
	e.mu.Unlock()
	e.cfg.Logger.Error("Lease not renewed in time; stopping the source before another instance may take it",
		errors.New("lease deadline passed"), watermill.LogFields{"lease": name, "instance": e.cfg.Instance})
	e.cfg.Stop(name)
	e.poke()
}

// lose drops name if still held at fence (someone else has it, or it was
// released) and stops it. A lease being resigned is left to resign: its
// task is stopped already, and a renew that no longer finds it only raced
// with its release.
func (e *Elector) lose(name string, fence int64, why string) {
	e.mu.Lock()
	h, ok := e.held[name]
	ok = ok && h.fence == fence && !h.resigning
	if ok {
		h.timer.Stop()
		h.stopLocked()
		delete(e.held, name)
	}
	e.mu.Unlock()
	if ok {
		e.cfg.Logger.Info("Lost a lease; stopping the source", watermill.LogFields{"lease": name, "why": why, "instance": e.cfg.Instance})
		e.cfg.Stop(name)
	}
}

// stopWait bounds how long a stopping instance waits for its tasks to stop
// (renewing their leases) before it leaves them to expire.
const stopWait = time.Minute

// handOverGrace separates a stopped source from its next leader's start on
// a clean hand-over: the provider notices a closed connection (a socket's
// end, a cancelled request) asynchronously, and one that allows a single
// connection per token would refuse the next leader's if it came first.
const handOverGrace = 200 * time.Millisecond

// resign hands name over: the task stops, and once it has stopped the lease
// is released (at its fence) and announced so that the least loaded
// instance takes it at once. The lease stays held and renewed until the
// release committed, so this instance cannot take it again meanwhile.
func (e *Elector) resign(name string) {
	e.mu.Lock()
	h, ok := e.held[name]
	if !ok || h.resigning {
		e.mu.Unlock()
		return
	}
	h.resigning = true
	h.stopLocked()
	e.mu.Unlock()
	e.cfg.Logger.Info("Handing a source to a less loaded instance", watermill.LogFields{"lease": name, "instance": e.cfg.Instance, "fence": h.fence})
	e.cfg.Stop(name)
	e.resigns.Add(1)
	go func() {
		defer e.resigns.Done()
		// The lease stays held and renewed until the task stopped, however
		// long that takes (a socket leaving, a batch being stored): handed
		// on earlier, the task would run on two instances.
		for e.cfg.Stopped != nil {
			wctx, wcancel := context.WithTimeout(context.Background(), e.cfg.TTL)
			ok := e.cfg.Stopped(wctx, name)
			wcancel()
			if ok {
				break
			}
			e.cfg.Logger.Error("A source being handed over has not stopped yet; keeping its lease until it has", nil,
				watermill.LogFields{"lease": name, "instance": e.cfg.Instance})
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.TTL)
		defer cancel()
		time.Sleep(handOverGrace)
		if err := e.releaseLeases(ctx, []string{name}, []int64{h.fence}); err != nil {
			e.cfg.Logger.Error("Resigning a lease failed; it expires after its TTL", err, watermill.LogFields{"lease": name})
		}
		e.mu.Lock()
		if cur, ok := e.held[name]; ok && cur == h {
			h.timer.Stop()
			delete(e.held, name)
		}
		e.resigned[name] = resignation{time.Now(), h.fence}
		e.mu.Unlock()
		e.poke()
	}()
}
