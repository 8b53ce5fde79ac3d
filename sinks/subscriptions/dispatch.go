package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// dispatcher delivers the sink's queued deliveries. It claims due rows in
// short transactions (SKIP LOCKED, so instances share the queue without
// waiting for each other) and hands each to its endpoint's lane: a FIFO of
// claimed rows served by at most MaxInFlight goroutines, through the
// endpoint's own webhook.Publisher (its breaker, rate limit, in-flight cap
// and 410-disable). A lane never holds more than 2 × MaxInFlight rows, and a
// full lane's endpoint is left out of the next claim: a hung endpoint ties up
// its own lane only, while the others' rows keep being claimed and sent.
// Goroutines and Publishers exist only for endpoints with work: an idle
// endpoint costs its index entry.
//
// Every outcome is written in a statement of its own after the response
// (never inside a transaction, never across the HTTP call). A claimed row's
// next_at moves a lease ahead, so rows of an instance killed mid-delivery
// come due again after it (nothing lost; what was in flight may repeat). A
// clean stop hands back what it had not started and waits for what is in
// flight (nothing repeated).
type dispatcher struct {
	s       *Sink
	key     string
	by      string
	workers sync.WaitGroup
	// reqCtx is every request's context, cancelled only when Close gives
	// up waiting.
	reqCtx    context.Context
	reqCancel context.CancelFunc

	mu       sync.Mutex
	lanes    map[string]*lane
	stopping bool
	retired  []*webhook.Publisher
	// disabledAt: endpoints a 410 disabled here, and when. Until an index
	// read after that arrives (the NOTIFY is asynchronous), they are left out
	// of claims and sends as if the index said so, or the row the 410
	// released would be claimed and sent to the endpoint again.
	disabledAt map[string]time.Time
}

type lane struct {
	queue   []claimed
	running int
	pub     *webhook.Publisher
	// pubVersion and pubUntil say which endpoint row pub was built from,
	// and until when its secrets hold (the next expiry).
	pubVersion int64
	pubUntil   time.Time
	lastUsed   time.Time
}

func newDispatcher(s *Sink) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	host, _ := os.Hostname()
	return &dispatcher{s: s, key: sinkKey(s.cfg.Pipeline, s.cfg.Sink), reqCtx: ctx, reqCancel: cancel,
		lanes: map[string]*lane{}, disabledAt: map[string]time.Time{}, by: "subscriptions sink on " + host + " (pid " + strconv.Itoa(os.Getpid()) + ")"}
}

func (d *dispatcher) run(ctx context.Context) {
	poll := time.NewTicker(d.s.cfg.PollInterval)
	defer poll.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		if ix := d.s.ix.Load(); ix != nil {
			d.claimAll(ctx, ix)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.s.wake:
		case <-poll.C:
		case <-sweep.C:
			d.sweep(ctx)
		}
	}
}

// budget is how many rows a lane may hold, queued and under way.
func (d *dispatcher) budget() int { return 2 * d.s.cfg.MaxInFlight }

// claimAll claims until a claim comes back short.
func (d *dispatcher) claimAll(ctx context.Context, ix *index) {
	for ctx.Err() == nil {
		d.mu.Lock()
		skip := []string{} // not nil: NULL would match nothing
		room := map[string]int{}
		for id, l := range d.lanes {
			free := d.budget() - len(l.queue) - l.running
			if free <= 0 {
				skip = append(skip, id)
			}
			room[id] = free
		}
		for id, at := range d.disabledAt {
			if ix.read.After(at) {
				delete(d.disabledAt, id) // the index has seen the 410's write
			} else {
				skip = append(skip, id)
			}
		}
		d.mu.Unlock()
		skip = append(skip, ix.disabled...) // their deliveries wait until they are enabled
		got, err := d.s.store.claim(ctx, d.key, skip, d.s.cfg.ClaimBatch, d.s.cfg.Lease, func(ep string) int {
			limit := d.budget()
			// A rate-limited endpoint holds no more than it can be sent
			// within half a lease: a row still queued when its lease ends
			// would be claimed again (and sent twice).
			if e := ix.byID[ep]; e != nil && e.ep.RateLimit > 0 {
				limit = min(limit, max(1, int(e.ep.RateLimit*d.s.cfg.Lease.Seconds()/2)))
			}
			if r, ok := room[ep]; ok {
				return limit - (d.budget() - r) // less what its lane holds
			}
			return limit
		})
		if err != nil {
			if ctx.Err() == nil {
				d.s.logger.Error("Claiming deliveries failed; trying again at the next poll", err, nil)
			}
			return
		}
		d.mu.Lock()
		for _, c := range got {
			l := d.lanes[c.endpointID]
			if l == nil {
				l = &lane{}
				d.lanes[c.endpointID] = l
			}
			l.queue = append(l.queue, c)
			l.lastUsed = d.s.cfg.Now()
			for l.running < d.s.cfg.MaxInFlight && l.running < len(l.queue) {
				l.running++
				d.workers.Add(1)
				go d.work(c.endpointID, l)
			}
		}
		active := 0
		for _, l := range d.lanes {
			if l.running > 0 || len(l.queue) > 0 {
				active++
			}
		}
		d.mu.Unlock()
		d.s.metrics.Load().active.Set(float64(active))
		if len(got) < d.s.cfg.ClaimBatch {
			return
		}
	}
}

// work delivers lane l's rows until it is empty or the sink stops.
func (d *dispatcher) work(id string, l *lane) {
	defer d.workers.Done()
	for {
		d.mu.Lock()
		if d.stopping || len(l.queue) == 0 {
			l.running--
			d.mu.Unlock()
			return
		}
		c := l.queue[0]
		l.queue = l.queue[1:]
		d.mu.Unlock()
		d.deliver(id, l, c)
	}
}

// deliver makes one attempt of c and records its outcome.
func (d *dispatcher) deliver(id string, l *lane, c claimed) {
	e := d.s.ix.Load().byID[id]
	if e == nil {
		// Removed (its rows go with it), or added by another instance and
		// not yet seen here: look again after the next reload; the purge
		// deletes what a removal left behind.
		d.record(c, StatePending, d.s.cfg.Refresh, "", false, "")
		return
	}
	if !e.ep.Enabled || d.disabledHere(id) {
		d.record(c, StatePending, 0, "", false, "released")
		return
	}
	pub, err := d.publisher(l, e.ep)
	if err != nil {
		d.record(c, StatePoisoned, 0, err.Error(), true, "poisoned")
		return
	}
	msg := message.NewMessage(c.uuid, c.payload)
	for k, v := range c.metadata {
		msg.Metadata.Set(k, v)
	}
	msg.Metadata.Set(middleware.MetaAttempts, strconv.Itoa(c.attempts))
	msg.SetContext(d.reqCtx)
	err = pub.Publish(LogSink(d.s.cfg.Sink, id), msg)
	switch {
	case err == nil:
		d.record(c, StateDelivered, 0, "", true, "delivered")
	case errors.Is(err, webhook.ErrEndpointDisabled):
		// A 410 disabled the endpoint (the Publisher stored that through
		// endpointState) or it was disabled meanwhile: held, not dropped,
		// until it is enabled again.
		d.record(c, StatePending, 0, err.Error(), false, "released")
	case middleware.IsPermanent(err):
		d.record(c, StatePoisoned, 0, err.Error(), true, "poisoned")
	default:
		wait, ok := d.s.schedule.Wait(c.attempts+1, err)
		if !ok {
			d.record(c, StatePoisoned, 0, fmt.Sprintf("retries exhausted after %d attempts: %v", c.attempts+1, err), true, "poisoned")
			return
		}
		d.record(c, StatePending, wait, err.Error(), true, "retry")
	}
}

// record stores c's outcome and counts it in the outcomes metric (unless
// outcome is "").
func (d *dispatcher) record(c claimed, state DeliveryState, next time.Duration, errText string, attempted bool, outcome string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.s.store.outcome(ctx, c.id, state, next, errText, attempted); err != nil {
		// The row keeps its lease: claimed again after it (a repeat, not a loss).
		d.s.logger.Error("Recording a delivery failed; it is attempted again after its lease", err,
			watermill.LogFields{"endpoint": c.endpointID, "event_id": c.eventID})
	}
	if outcome != "" {
		d.s.metrics.Load().outcomes.WithLabelValues(outcome).Inc()
	}
}

// publisher returns the lane's Publisher for ep as stored now, building a
// new one when the row changed or a secret expired.
func (d *dispatcher) publisher(l *lane, ep Endpoint) (*webhook.Publisher, error) {
	now := d.s.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if l.pub != nil && l.pubVersion == ep.Version && (l.pubUntil.IsZero() || now.Before(l.pubUntil)) {
		return l.pub, nil
	}
	cfg := ep.webhookConfig(d.s.cfg.base(), now)
	cfg.State = &endpointState{d: d, id: ep.ID}
	p, err := webhook.NewPublisher(cfg, d.s.logger.With(watermill.LogFields{"endpoint_id": ep.ID}))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", ep.ID, err)
	}
	if l.pub != nil {
		d.retired = append(d.retired, l.pub) // another worker may be using it: closed at the next sweep
	}
	l.pub, l.pubVersion, l.pubUntil = p, ep.Version, ep.nextExpiry(now)
	return p, nil
}

// sweep drops the lanes idle for 5 minutes (their Publishers' connections
// with them), closes retired Publishers and purges old rows.
func (d *dispatcher) sweep(ctx context.Context) {
	d.mu.Lock()
	retired := d.retired
	d.retired = nil
	for id, l := range d.lanes {
		if l.running == 0 && len(l.queue) == 0 && d.s.cfg.Now().Sub(l.lastUsed) > 5*time.Minute {
			if l.pub != nil {
				retired = append(retired, l.pub)
			}
			delete(d.lanes, id)
		}
	}
	d.mu.Unlock()
	for _, p := range retired {
		_ = p.Close()
	}
	if err := d.s.store.purge(ctx, d.s.cfg.Pipeline, d.s.cfg.Sink, d.s.cfg.Retain); err != nil && ctx.Err() == nil {
		d.s.logger.Error("Purging old deliveries failed", err, nil)
	}
}

// close hands back the rows not started, waits up to CloseTimeout for the
// requests in flight, then cancels them.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.stopping = true
	var back []claimed
	for _, l := range d.lanes {
		back = append(back, l.queue...)
		l.queue = nil
	}
	d.mu.Unlock()
	for _, c := range back {
		d.record(c, StatePending, 0, "", false, "")
	}
	done := make(chan struct{})
	go func() { d.workers.Wait(); close(done) }()
	t := time.NewTimer(d.s.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		d.s.logger.Info("Deliveries still in flight at close; cancelled (they are attempted again later)", nil)
		d.reqCancel()
		<-done
	}
	d.reqCancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lanes {
		if l.pub != nil {
			_ = l.pub.Close()
		}
	}
	for _, p := range d.retired {
		_ = p.Close()
	}
}

// endpointState is webhook.EndpointStates for one endpoint: its Publisher
// reads the enabled state from the sink's index (no query per delivery),
// and a 410 disables the endpoint's row for every instance.
type endpointState struct {
	d  *dispatcher
	id string
}

func (s *endpointState) Load(_ context.Context, pipeline, sink, endpoint string) (webhook.EndpointState, error) {
	st := webhook.EndpointState{Pipeline: pipeline, Sink: sink, Endpoint: endpoint, State: webhook.StateEnabled}
	if e := s.d.s.ix.Load().byID[s.id]; e != nil && !e.ep.Enabled {
		st.State, st.Reason = webhook.StateDisabled, e.ep.DisabledReason
	} else if s.d.disabledHere(s.id) {
		st.State, st.Reason = webhook.StateDisabled, "disabled by a 410 (not yet in the index)"
	}
	return st, nil
}

func (s *endpointState) Set(ctx context.Context, st webhook.EndpointState) error {
	enabled := st.State == webhook.StateEnabled
	if _, err := s.d.s.store.SetEnabled(ctx, s.id, enabled, st.Reason, s.d.by); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if enabled {
		delete(s.d.disabledAt, s.id)
	} else {
		s.d.disabledAt[s.id] = time.Now()
	}
	return nil
}

// disabledHere reports whether a 410 disabled endpoint id here and the
// index has not been read since.
func (d *dispatcher) disabledHere(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.disabledAt[id]
	return ok && !d.s.ix.Load().read.After(at)
}

// LogSink is the sink name an endpoint's attempts carry in the delivery log
// (and in its Publisher's logs): "<sink>/<endpoint id>", so that
// `tributary deliveries list --sink hooks/ep_…` shows one endpoint's.
func LogSink(sink, endpointID string) string { return sink + "/" + endpointID }
