package etagpoll

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/namedlog"
)

// Metadata keys this source sets besides tributary's.
const (
	// MetaCreatedAt is the event's createdAt (server insertion time), RFC 3339.
	MetaCreatedAt = "etagpoll_created_at"
	// MetaTimestamp is the event's own timestamp (when the door was
	// unlocked), exactly as the API sent it.
	MetaTimestamp = "etagpoll_timestamp"
)

// State is the checkpoint: stored as JSON under Config.CheckpointKey.
type State struct {
	// ETag of the last probe whose events are all acked; "" sends no If-None-Match.
	ETag string `json:"etag"`
	// Start is where the source began; a fetch never reaches below it.
	Start time.Time `json:"start"`
	// Cursor is the largest createdAt (server time) received and acked.
	Cursor time.Time `json:"cursor,omitzero"`
	// Rereads counts the polls that still re-read the window although the
	// probe answers 304 (see rereads).
	Rereads int `json:"rereads,omitempty"`
}

// since is the lower bound of the next fetch: Overlap below the cursor, so
// late-visible events are re-read.
func (st State) since(overlap time.Duration) time.Time {
	if st.Cursor.IsZero() {
		return st.Start
	}
	s := st.Cursor.Add(-overlap)
	if s.Before(st.Start) {
		return st.Start
	}
	return s
}

// Source polls one event log. It is a tributary.Source: one run at a time,
// since it owns one cursor; started again, it resumes from its checkpoint.
type Source struct {
	cfg    Config
	logger watermill.LoggerAdapter
	named  *namedlog.Logger // logger; holds the name the router gives (Instrument)
	base   *url.URL
	client *http.Client

	// sleep and now are replaced by tests to compress time; nil sleep is
	// the real clock (see after).
	sleep func(ctx context.Context, d time.Duration) error
	slots *pollSlots
	now   func() time.Time

	mu      sync.Mutex
	running bool

	// Owned by the polling goroutine.
	state  State
	loaded bool
	dirty  bool // state advanced in memory but not yet saved
	// seen holds the acked events of earlier polls still inside the overlap
	// window (id → createdAt). Re-reads of them are not handed on again: they
	// are durably in the pipeline already. After a restart the set is empty
	// and the router's dedup drops the re-reads instead.
	seen map[string]time.Time
	// paging is the scheme detected under Paging Auto; "" until then. Kept
	// across subscriptions: the API does not change with them.
	paging Paging

	m *sourceMetrics
}

// unnamed are the collectors of every source not yet instrumented: they
// count for nobody, and one set shared by all keeps a thousand sources from
// building a thousand sets that Instrument replaces at once.
var unnamed = sync.OnceValue(func() *sourceMetrics { return newSourceMetrics(nil, "", "") })

// NewSource validates cfg and builds a Source.
func NewSource(cfg Config, logger watermill.LoggerAdapter) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Checkpoints == nil {
		return nil, errors.New("etagpoll: Config.Checkpoints is required (checkpoint.NewStore(pool))")
	}
	cfg.setDefaults()
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	base, _ := url.Parse(cfg.BaseURL)
	named := namedlog.New(logger, "source")
	s := &Source{
		cfg:    cfg,
		logger: named,
		named:  named,
		base:   base,
		client: newClient(cfg.HTTPClient, base),
		slots:  hostSlots(base.Host),
		now:    time.Now,
		m:      unnamed(),
	}
	return s, nil
}

// Start starts polling and returns at once; each fetched window is handed
// on through emit in groups of up to maxGroup events, oldest first, one
// group at a time. A group that fails is handed on again whole after
// RedeliverDelay, and the checkpoint moves only once every group of the
// window is stored. Between polls the source holds no goroutine (a timer).
// When ctx ends it stops: a poll under way is abandoned (its events are
// read again from the checkpoint), and stopped is called.
func (s *Source) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("etagpoll: source %q is already running (it owns one cursor)", s.named.Name())
	}
	if s.cfg.CheckpointKey == "" {
		name := s.named.Name()
		if name == "" {
			return errors.New("etagpoll: no checkpoint key: run the source in a router pipeline, which names it (router.Source.Name), or set Config.CheckpointKey")
		}
		s.cfg.CheckpointKey = "etagpoll/" + name
	}
	s.running = true
	r := &pollRun{s: s, ctx: ctx, emit: emit, stopped: stopped}
	// Spread the first polls of many sources started together.
	var first time.Duration
	if s.cfg.Jitter > 0 {
		first = time.Duration(rand.Float64() * s.cfg.Jitter * float64(s.cfg.Interval))
	}
	s.after(ctx, first, r.tick, r.finish)
	return nil
}

// maxGroup bounds the events handed on as one group: a large window is
// several statements, not one unbounded one.
const maxGroup = 500

// pollRun is one run: each tick is one poll, after which the next is
// scheduled; finish ends it.
type pollRun struct {
	s        *Source
	ctx      context.Context
	emit     tributary.Emit
	stopped  func(error)
	failures int
}

func (r *pollRun) finish() {
	s := r.s
	// A later Start (leadership come back) starts from the checkpoint.
	s.mu.Lock()
	s.running, s.loaded, s.seen = false, false, nil
	s.mu.Unlock()
	r.stopped(nil)
}

func (r *pollRun) tick() {
	s, ctx := r.s, r.ctx
	serverInterval, err := s.poll(ctx, r.emit)
	if ctx.Err() != nil {
		r.finish()
		return
	}
	var retry time.Duration
	if err != nil {
		r.failures++
		var pe *pollError
		if !errors.As(err, &pe) {
			pe = &pollError{kind: "internal", err: err}
		}
		retry = pe.retryAfter
		s.m.Error(pe.kind)
		s.m.Up.Set(0)
		s.logger.Error("Event-log poll failed; cursor kept, polling again after backoff", pe.err, watermill.LogFields{
			"kind": pe.kind, "failures_in_row": r.failures, "retry_after": retry.String(),
		})
	} else {
		r.failures = 0
		s.m.Up.Set(1)
		s.m.LastSuccess.Set(float64(s.now().Unix()))
	}
	s.after(ctx, s.nextWait(r.failures, serverInterval, retry), r.tick, r.finish)
}

// poll runs one round of the protocol's flow: probe, and on a change fetch the
// window, hand it on, and checkpoint once all of it is acked. It returns the
// server's X-Poll-Interval, if any.
func (s *Source) poll(ctx context.Context, emit tributary.Emit) (time.Duration, error) {
	if !s.loaded {
		var st State
		found, err := s.cfg.Checkpoints.Load(ctx, s.cfg.CheckpointKey, &st)
		if err != nil {
			return 0, &pollError{kind: "checkpoint", err: err}
		}
		if st.Rereads > 0 {
			// The polls counted before the restart may have come sooner
			// than Interval apart from the next: count from here again.
			st.Rereads = s.rereads()
		}
		s.state, s.loaded = st, true
		if found {
			s.logger.Info("Resuming from checkpoint", watermill.LogFields{
				"cursor": st.Cursor, "since": st.since(s.cfg.Overlap), "conditional": st.ETag != "", "rereads": st.Rereads,
			})
		}
	}
	if s.dirty {
		if err := s.save(ctx); err != nil {
			return 0, err
		}
	}

	probe, err := s.get(ctx, "probe", s.probeURL(), s.state.ETag)
	if err != nil {
		return 0, err
	}
	interval := pollInterval(probe.header)
	// The probe's ETag is older than anything the fetch below returns, so
	// storing it can only make the next probe answer 200 once too often.
	etag := probe.header.Get("ETag")
	switch {
	case probe.status == http.StatusNotModified && s.state.Rereads > 0:
		// The newest event is unchanged, but the cursor moved less than
		// Overlap ago: an event may have become visible below it.
		etag = s.state.ETag
		s.logger.Trace("Event log unchanged (304); re-reading the window", watermill.LogFields{"rereads": s.state.Rereads})
	case probe.status == http.StatusNotModified:
		s.logger.Trace("Event log unchanged (304)", nil)
		return interval, nil
	case probe.status < 200 || probe.status > 299:
		return interval, s.statusError("probe", probe)
	}

	first := s.state.Start.IsZero()
	if first {
		s.state.Start = s.chooseStart(probe.header)
		// Stored at once: a restart before the first acks must not move the
		// start forward past events that exist by then.
		if err := s.save(ctx); err != nil {
			return interval, err
		}
	}

	since := s.state.since(s.cfg.Overlap)
	if probe.status != http.StatusNotModified {
		s.checkNewest(probe.body, since, first)
	}
	events, err := s.fetchWindow(ctx, since)
	if err != nil {
		return interval, err
	}
	// Events of the overlap already acked are not handed on again.
	fresh := s.unseen(events)
	if !s.deliver(ctx, emit, fresh) {
		return interval, ctx.Err()
	}

	next := s.state
	next.ETag = etag
	moved := false
	for _, ev := range events {
		if ev.CreatedAt.After(next.Cursor) {
			next.Cursor, moved = ev.CreatedAt, true
		}
	}
	switch {
	case moved:
		next.Rereads = s.rereads()
	case next.Rereads > 0:
		next.Rereads--
	}
	s.state, s.dirty = next, true
	s.rememberAcked(events)
	if err := s.save(ctx); err != nil {
		return interval, err
	}
	switch {
	case len(fresh) > 0:
		s.logger.Info("Events handed on and acked", watermill.LogFields{
			"count": len(fresh), "reread": len(events) - len(fresh), "since": since, "cursor": next.Cursor,
		})
	case len(events) > 0:
		s.logger.Debug("Overlap re-read; nothing new", watermill.LogFields{"reread": len(events), "since": since})
	}
	return interval, nil
}

func (s *Source) save(ctx context.Context) error {
	if err := s.cfg.Checkpoints.Save(ctx, s.cfg.CheckpointKey, s.state); err != nil {
		s.dirty = true
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &pollError{kind: "checkpoint", err: err}
	}
	s.dirty = false
	if !s.state.Cursor.IsZero() {
		s.m.setCursor(float64(s.state.Cursor.UnixMilli()) / 1000)
	}
	return nil
}

// rereads is how many polls re-read the window after the cursor moved. Polls
// are never closer than Interval, so ceil(Overlap/Interval) of them span
// Overlap; one more covers a first poll after a restart, which may come
// sooner. Counting polls instead of comparing clocks keeps the provider's
// two clocks (its Date header and its createdAt stamps) out of it.
func (s *Source) rereads() int {
	if s.cfg.Overlap <= 0 {
		return 0
	}
	return int((s.cfg.Overlap+s.cfg.Interval-1)/s.cfg.Interval) + 1
}

// chooseStart is where a source without checkpoint begins, logged: StartFrom,
// else Overlap before the server's Date header (see StartFrom), else Overlap
// before our clock.
func (s *Source) chooseStart(h http.Header) time.Time {
	var start time.Time
	fields := watermill.LogFields{"overlap": s.cfg.Overlap.String()}
	if !s.cfg.StartFrom.IsZero() {
		start = s.cfg.StartFrom.UTC()
		fields["from"] = "start_from"
	} else if date, err := http.ParseTime(h.Get("Date")); err == nil {
		start = date.UTC().Add(-s.cfg.Overlap)
		fields["from"], fields["server_date"] = "the server's Date header minus the overlap", date.UTC()
	} else {
		start = s.now().UTC().Add(-s.cfg.Overlap)
		fields["from"] = "the local clock minus the overlap: the server sent no Date header"
	}
	fields["start"] = start
	s.logger.Info("No checkpoint; starting a new cursor", fields)
	return start
}

// checkNewest logs the newest event a changed probe showed when it is below
// the window to be fetched, since such an event is never read: on a first
// start that is history from before the start; later it means the provider's
// createdAt clock is further behind its Date header than the overlap, or an
// event became visible later than the overlap allows.
func (s *Source) checkNewest(probeBody []byte, since time.Time, first bool) {
	evs, err := parseEvents(probeBody, s.cfg.fields())
	if err != nil || len(evs) == 0 {
		return // the probe need not list events; the fetch checks them
	}
	newest := slices.MaxFunc(evs, func(a, b Event) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if !newest.CreatedAt.Before(since) {
		return
	}
	fields := watermill.LogFields{"newest_id": newest.ID, "newest_created_at": newest.CreatedAt, "since": since}
	if first {
		s.logger.Info("The event log's newest event is older than the start: it and all older ones are not read", fields)
		return
	}
	s.logger.Error("The event log's newest event is below the fetch window and is not read", fmt.Errorf(
		"event %s created %s, window from %s: its createdAt clock is more than the overlap behind the server's Date, or it became visible more than the overlap late; raise %s",
		newest.ID, newest.CreatedAt.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano), "overlap"), fields)
}

// unseen is events less those already acked in an earlier read of the
// overlap (counted as skipped re-reads).
func (s *Source) unseen(events []Event) []Event {
	fresh := make([]Event, 0, len(events))
	for _, ev := range events {
		if _, ok := s.seen[ev.ID]; ok {
			s.m.counter(&s.m.skipped, s.m.v.skipped).Inc()
			continue
		}
		fresh = append(fresh, ev)
	}
	return fresh
}

// deliver hands events on in groups of up to maxGroup, oldest first, each
// until it is stored; it reports false when ctx ended first.
func (s *Source) deliver(ctx context.Context, emit tributary.Emit, fresh []Event) bool {
	for len(fresh) > 0 {
		part := fresh[:min(len(fresh), maxGroup)]
		for {
			msgs := make([]*message.Message, len(part))
			for i, ev := range part {
				msgs[i] = s.message(ev)
				msgs[i].SetContext(ctx)
			}
			if err := emit(ctx, msgs...); err == nil {
				break
			}
			if ctx.Err() != nil {
				return false
			}
			s.m.counter(&s.m.redelivered, s.m.v.redelivered).Add(float64(len(part)))
			if s.pause(ctx, s.cfg.RedeliverDelay) != nil {
				return false
			}
		}
		s.m.counter(&s.m.acked, s.m.v.acked).Add(float64(len(part)))
		fresh = fresh[len(part):]
	}
	return true
}

// rememberAcked adds a poll's acked events to the seen set and forgets those that
// the next fetch's window no longer reaches.
func (s *Source) rememberAcked(events []Event) {
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	for _, ev := range events {
		s.seen[ev.ID] = ev.CreatedAt
	}
	since := s.state.since(s.cfg.Overlap)
	maps.DeleteFunc(s.seen, func(_ string, at time.Time) bool { return at.Before(since) })
}

func (s *Source) message(ev Event) *message.Message {
	msg := tributary.NewEventMessage(ev.ID, ev.Raw)
	msg.Metadata.Set(tributary.MetaSource, s.named.Name())
	if ev.Type != "" {
		msg.Metadata.Set(tributary.MetaEventType, ev.Type)
	}
	msg.Metadata.Set(MetaCreatedAt, ev.CreatedAt.Format(time.RFC3339Nano))
	if ev.Timestamp != "" {
		msg.Metadata.Set(MetaTimestamp, ev.Timestamp)
	}
	return msg
}

func (s *Source) count(step, outcome string) { s.m.request(step, outcome) }

var _ tributary.Source = (*Source)(nil)
