package pgtopic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// MetaOrderKeyError is set on a message whose order key could not be
// computed (LaneConfig.Key failed): it is handed out with no key (it waits
// for nothing), and the handler decides what to do with it (the router
// poisons it).
const MetaOrderKeyError = "tributary_order_key_error"

// LaneConfig configures a LaneSubscriber.
type LaneConfig struct {
	// SubscriberConfig: ConsumerGroup is required. MaxInFlight is how many
	// lanes this Subscriber works at once (Lanes when zero): the instances
	// sharing a group together work at most Lanes. BatchSize is how many
	// events a split reads and how many deliveries a lane gets before it is
	// handed back for anyone to take.
	SubscriberConfig
	// Lanes is how many lanes the group's events are spread over, by a hash
	// of their key: at most Lanes events of the group are delivered at once
	// among all instances. Required.
	Lanes int
	// Key returns a message's order key; "" is no key (the event waits for
	// nothing). Required.
	Key func(*message.Message) (string, error)
	// OnFenced, if set, is called when a completion or hold was refused
	// because the lane was taken over (this owner's lease had expired).
	OnFenced func(lane int, epoch int64)
}

func (c *LaneConfig) setDefaults() {
	c.MaxInFlight = cmp.Or(c.MaxInFlight, c.Lanes)
	c.SubscriberConfig.setDefaults()
}

// Validate reports what is wrong with c.
func (c LaneConfig) Validate() error {
	var errs []error
	if c.ConsumerGroup == "" {
		errs = append(errs, errors.New("pgtopic: LaneConfig.ConsumerGroup is required"))
	}
	if c.Lanes < 1 {
		errs = append(errs, fmt.Errorf("pgtopic: LaneConfig.Lanes is %d; want at least 1", c.Lanes))
	}
	if c.Key == nil {
		errs = append(errs, errors.New("pgtopic: LaneConfig.Key is required"))
	}
	return errors.Join(append(errs, c.SubscriberConfig.Validate())...)
}

// LaneSubscriber reads a topic as a consumer group in ordered lanes: events
// with the same key are handed out one at a time in topic order, events with
// different keys in parallel, across every instance of the group.
//
// The group's position is read by one splitter at a time (the position row
// is locked FOR UPDATE SKIP LOCKED): in one transaction it reads the next
// BatchSize events, files each under its key in tributary_lane_events (lane
// = hash(key) mod Lanes) and moves the position, so an event is filed exactly
// once. Workers (MaxInFlight per Subscriber) claim a lane that has an
// eligible event — one whose key has no earlier event still pending in
// another lane or held back — with a lease and a new epoch, hand out its
// eligible events in offset order one at a time, and hand the lane back
// after BatchSize deliveries or when it has nothing eligible left. An ack
// deletes the event, a nack holds it back until its retry time (the
// delay.DelayedUntilKey metadata, else ResendInterval) and keeps its key's
// later events waiting; other keys go on. Both writes succeed only while
// the worker's epoch is the lane's and its lease has not expired: an owner
// that stalled past ClaimTTL is fenced out, and it stops handing out events
// at its own deadline (its last successful renewal + ¾ ClaimTTL, on its
// monotonic clock) whether or not it can reach the database.
type LaneSubscriber struct {
	*consumer
	lcfg LaneConfig
}

// NewLaneSubscriber returns a LaneSubscriber reading as cfg.ConsumerGroup.
func NewLaneSubscriber(db DB, cfg LaneConfig, logger watermill.LoggerAdapter) (*LaneSubscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := newConsumer(db, cfg.SubscriberConfig, logger)
	if err != nil {
		return nil, err
	}
	return &LaneSubscriber{consumer: c, lcfg: cfg}, nil
}

// Subscribe implements message.Subscriber.
func (s *LaneSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.subscribe(ctx, topic, s.consume)
}

// laneWake is the notification payload that wakes a group's lane workers.
func laneWake(topic, group string) string { return topic + "#lanes/" + group }

// laneOf is the lane of an event ($n = Lanes): a hash of its key, or of its
// offset when it has none.
func laneOf(n string) string {
	return `CASE WHEN key IS NULL THEN "offset" % ` + n + ` ELSE (hashtext(key) & 2147483647) % ` + n + ` END`
}

// setupLanes creates the group and its lanes; with a different lane count
// than before, it drops the surplus lanes (their owners are fenced out) and
// moves every pending event to the lane its key now hashes to. Order per
// key does not depend on lanes, so a change keeps it.
func (s *LaneSubscriber) setupLanes(ctx context.Context, topic string) error {
	g, n := s.cfg.ConsumerGroup, s.lcfg.Lanes
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tributary_consumers (topic, consumer_group) VALUES ($1, $2) ON CONFLICT DO NOTHING`, topic, g)
	b.Queue(`INSERT INTO tributary_lanes (topic, consumer_group, lane) SELECT $1, $2, generate_series(0, $3 - 1)
		ON CONFLICT DO NOTHING`, topic, g, n)
	b.Queue(`DELETE FROM tributary_lanes WHERE topic = $1 AND consumer_group = $2 AND lane >= $3`, topic, g, n)
	b.Queue(`UPDATE tributary_lane_events SET lane = `+laneOf("$3")+`
		WHERE topic = $1 AND consumer_group = $2 AND lane <> `+laneOf("$3"), topic, g, n)
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgtopic: lanes of %q for %q: %w", topic, g, err)
	}
	return nil
}

func (s *LaneSubscriber) consume(ctx context.Context, topic string, out chan<- *message.Message) {
	logFields := watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup}
	retry := newRetryWait(s.cfg.PollInterval)
	for err := s.setupLanes(ctx, topic); err != nil; err = s.setupLanes(ctx, topic) {
		if !s.failed(ctx, retry, "Creating lanes", err, logFields) {
			return
		}
	}
	msgCtx, endMessages := closingContext(ctx, s.closing)
	defer endMessages()
	var wg sync.WaitGroup
	wg.Go(func() { s.splitLoop(ctx, topic, logFields) })
	// Idle workers wait for the bell, which one of them takes at a time: it
	// rings on a wake-up (events filed anywhere), every poll interval (or
	// sooner when a held-back event is due), and whenever a worker claimed a
	// lane (there may be another). An idle group thus costs two statements
	// per poll interval, not two per worker.
	bell := make(chan struct{}, 1)
	wg.Go(func() { s.ringLoop(ctx, topic, bell) })
	for range s.cfg.MaxInFlight {
		wg.Go(func() { s.workLoop(ctx, msgCtx, topic, out, bell, logFields) })
	}
	wg.Wait()
}

// ring sends a wake-up unless one is already pending (an idle worker's
// bell, a Notifier's listener).
func ring(bell chan<- struct{}) {
	select {
	case bell <- struct{}{}:
	default:
	}
}

// ringLoop rings the bell on wake-ups and at every poll.
func (s *LaneSubscriber) ringLoop(ctx context.Context, topic string, bell chan<- struct{}) {
	wake, stopWake := s.listen(laneWake(topic, s.cfg.ConsumerGroup))
	defer stopWake()
	for {
		if !sleep(ctx, s.closing, wake, s.idleWait(ctx, topic)) {
			return
		}
		ring(bell)
	}
}

// splitLoop files new events into lanes until the subscription stops.
func (s *LaneSubscriber) splitLoop(ctx context.Context, topic string, logFields watermill.LogFields) {
	wake, stopWake := s.listen(topic)
	defer stopWake()
	retry := newRetryWait(s.cfg.PollInterval)
	for {
		n, err := s.split(ctx, topic)
		if err != nil {
			if !s.failed(ctx, retry, "Filing events into lanes", err, logFields) {
				return
			}
			continue
		}
		retry.reset()
		if n == s.cfg.BatchSize {
			if s.stopping(ctx) {
				return
			}
			continue
		}
		if !sleep(ctx, s.closing, wake, s.cfg.PollInterval) {
			return
		}
	}
}

// split files the next BatchSize events past the group's position into
// their lanes and moves the position past them, in one transaction that
// holds the position row (another instance splitting meanwhile skips). The
// transaction is open only while the keys are computed, no network call.
func (s *LaneSubscriber) split(ctx context.Context, topic string) (int, error) {
	g := s.cfg.ConsumerGroup
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var pos int64
	err = tx.QueryRow(ctx, `SELECT position FROM tributary_consumers WHERE topic = $1 AND consumer_group = $2
		FOR UPDATE SKIP LOCKED`, topic, g).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // another instance is splitting
	}
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT "offset", uuid, payload, metadata FROM tributary_messages
		WHERE topic = $1 AND "offset" > $2 ORDER BY "offset" LIMIT $3`, topic, pos, s.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	msgs, err := pgx.CollectRows(rows, scanRow)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	offsets := make([]int64, len(msgs))
	keys := make([]*string, len(msgs))
	states := make([]map[string]string, len(msgs))
	for i, r := range msgs {
		offsets[i] = r.key
		k, kerr := s.lcfg.Key(r.message())
		switch {
		case kerr != nil:
			states[i] = map[string]string{MetaOrderKeyError: kerr.Error()}
		case k != "":
			keys[i] = &k
		}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tributary_lane_events (topic, consumer_group, "offset", lane, key, state)
		SELECT $1, $2, "offset", `+laneOf("$6")+`, key, NULLIF(state, 'null') FROM unnest($3::bigint[], $4::text[], $5::jsonb[]) AS t("offset", key, state)`,
		topic, g, offsets, keys, states, s.lcfg.Lanes)
	b.Queue(`UPDATE tributary_consumers SET position = $3 WHERE topic = $1 AND consumer_group = $2`, topic, g, offsets[len(offsets)-1])
	b.Queue(`SELECT pg_notify('`+NotifyChannel+`', $1)`, laneWake(topic, g))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

// eligible is the condition on a lane event e ($1 topic, $2 group) that it
// may be delivered now: it is not held back, and no earlier event of its
// key is held back or pending in another lane. (An earlier event of its key
// in the same lane comes first in offset order.)
const eligible = `(e.retry_at IS NULL OR e.retry_at <= now())
	AND (e.key IS NULL OR NOT EXISTS (SELECT 1 FROM tributary_lane_events p
		WHERE p.topic = $1 AND p.consumer_group = $2 AND p.key = e.key AND p."offset" < e."offset"
			AND (p.lane <> e.lane OR p.retry_at > now())))`

// claimLane takes the free lane whose oldest eligible event is oldest,
// with a new epoch.
const claimLane = `
	UPDATE tributary_lanes SET owner = $3, epoch = epoch + 1, claimed_at = now(), expires_at = now() + make_interval(secs => $4)
	WHERE topic = $1 AND consumer_group = $2 AND lane = (
		SELECT l.lane FROM tributary_lanes l,
			LATERAL (SELECT e."offset" FROM tributary_lane_events e
				WHERE e.topic = $1 AND e.consumer_group = $2 AND e.lane = l.lane AND ` + eligible + `
				ORDER BY e."offset" LIMIT 1) first
		WHERE l.topic = $1 AND l.consumer_group = $2 AND l.expires_at < now()
		ORDER BY first."offset" LIMIT 1 FOR UPDATE OF l SKIP LOCKED)
	RETURNING lane, epoch`

// laneEvents reads a claimed lane's eligible events in offset order.
const laneEvents = `
	SELECT e."offset", m.uuid, m.payload, m.metadata || coalesce(e.state, '{}'), e.key
	FROM tributary_lane_events e JOIN tributary_messages m ON m.topic = e.topic AND m."offset" = e."offset"
	WHERE e.topic = $1 AND e.consumer_group = $2 AND e.lane = $3 AND ` + eligible + `
	ORDER BY e."offset" LIMIT $4`

// owned is the fence ($1 topic, $2 group, $3 lane, $4 owner, $5 epoch, $6
// TTL): it extends the lane's lease only while this owner holds it at this
// epoch and the lease has not expired; a write that depends on it is
// refused otherwise.
const owned = `owned AS (UPDATE tributary_lanes SET expires_at = now() + make_interval(secs => $6)
	WHERE topic = $1 AND consumer_group = $2 AND lane = $3 AND owner = $4 AND epoch = $5 AND expires_at > now()
	RETURNING 1)`

// completeEvent deletes a delivered event ($7 its offset) under the fence.
const completeEvent = `WITH ` + owned + `,
	del AS (DELETE FROM tributary_lane_events WHERE topic = $1 AND consumer_group = $2 AND lane = $3 AND "offset" = $7
		AND EXISTS (SELECT 1 FROM owned) RETURNING 1)
	SELECT (SELECT count(*) FROM owned), (SELECT count(*) FROM del)`

// holdEvent holds a failed event back until $8, keeping its metadata ($9)
// for the next attempt, under the fence.
const holdEvent = `WITH ` + owned + `,
	upd AS (UPDATE tributary_lane_events SET retry_at = $8, attempts = attempts + 1, state = $9
		WHERE topic = $1 AND consumer_group = $2 AND lane = $3 AND "offset" = $7 AND EXISTS (SELECT 1 FROM owned) RETURNING 1)
	SELECT (SELECT count(*) FROM owned), (SELECT count(*) FROM upd)`

// heldLane is a lane this worker holds.
type heldLane struct {
	lane  int
	epoch int64

	mu       sync.Mutex
	deadline time.Time // monotonic: stop handing out after it
	lost     bool
}

func (l *heldLane) renewed(start time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := start.Add(ttl - ttl/4); d.After(l.deadline) {
		l.deadline = d
	}
}

func (l *heldLane) lose() {
	l.mu.Lock()
	l.lost = true
	l.mu.Unlock()
}

// usable says whether the lane may still hand out an event.
func (l *heldLane) usable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.lost && time.Now().Before(l.deadline)
}

func (s *LaneSubscriber) workLoop(ctx, msgCtx context.Context, topic string, out chan<- *message.Message,
	bell chan struct{}, logFields watermill.LogFields) {
	retry := newRetryWait(s.cfg.PollInterval)
	for {
		if s.stopping(ctx) {
			return
		}
		l, err := s.claim(ctx, topic)
		if err != nil {
			if !s.failed(ctx, retry, "Claiming a lane", err, logFields) {
				return
			}
			continue
		}
		retry.reset()
		if l == nil {
			select {
			case <-bell:
			case <-s.closing:
				return
			case <-ctx.Done():
				return
			}
			continue
		}
		ring(bell)
		stopped := s.work(ctx, msgCtx, topic, l, out, logFields)
		s.release(topic, l)
		if stopped {
			return
		}
	}
}

func (s *LaneSubscriber) claim(ctx context.Context, topic string) (*heldLane, error) {
	start := time.Now()
	l := &heldLane{}
	// It waits for the disk (unlike the topic's claims): a claim lost in a
	// server crash would give its epoch to the lane's next claim again, and
	// should this owner take the lane again, its old and new hold could not
	// be told apart by the fence. It is one commit per lane visit, not per
	// event.
	err := s.db.QueryRow(ctx, claimLane, topic, s.cfg.ConsumerGroup, s.cfg.Owner, s.cfg.ClaimTTL.Seconds()).Scan(&l.lane, &l.epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l.renewed(start, s.cfg.ClaimTTL)
	return l, nil
}

// idleWait is how long an idle worker sleeps: the poll interval, or less
// when a held-back event is due sooner.
func (s *LaneSubscriber) idleWait(ctx context.Context, topic string) time.Duration {
	var secs *float64
	err := s.db.QueryRow(ctx, `SELECT extract(epoch FROM min(retry_at) - now())::float8 FROM tributary_lane_events
		WHERE topic = $1 AND consumer_group = $2 AND retry_at > now()`, topic, s.cfg.ConsumerGroup).Scan(&secs)
	if err != nil || secs == nil {
		return s.cfg.PollInterval
	}
	return min(max(time.Duration(*secs*float64(time.Second)), 10*time.Millisecond), s.cfg.PollInterval)
}

// keepAlive extends l's lease every third of ClaimTTL until stop is
// closed; a refused extension marks the lane lost.
func (s *LaneSubscriber) keepAlive(topic string, l *heldLane, stop <-chan struct{}) {
	ttl := s.cfg.ClaimTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		tag, err := execRelaxed(ctx, s.db, `UPDATE tributary_lanes SET expires_at = now() + make_interval(secs => $6)
			WHERE topic = $1 AND consumer_group = $2 AND lane = $3 AND owner = $4 AND epoch = $5 AND expires_at > now()`,
			topic, s.cfg.ConsumerGroup, l.lane, s.cfg.Owner, l.epoch, ttl.Seconds())
		cancel()
		switch {
		case err != nil:
			s.logger.Error("Extending a lane's lease failed; it stops at its deadline unless the next try works", err,
				watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup, "lane": l.lane})
		case tag.RowsAffected() == 0:
			l.lose()
			return
		default:
			l.renewed(start, ttl)
		}
	}
}

// work hands out l's eligible events, one at a time, until BatchSize were
// delivered, none is left, or the lane is lost; stopped says whether the
// subscription is stopping.
//
// A completion runs while the next event is handed out when that event has
// another key (or none): the key of the event being completed gets nothing
// before its completion committed, so a crash or a fence repeats it before
// anything later of its key. At most one completion is under way.
func (s *LaneSubscriber) work(ctx, msgCtx context.Context, topic string, l *heldLane, out chan<- *message.Message,
	logFields watermill.LogFields) (stopped bool) {
	stopKeepAlive := make(chan struct{})
	defer close(stopKeepAlive)
	go s.keepAlive(topic, l, stopKeepAlive)
	fields := logFields.Add(watermill.LogFields{"lane": l.lane, "epoch": l.epoch})
	var pending *completion
	defer func() { pending.wait() }()
	for delivered := 0; delivered < s.cfg.BatchSize; {
		// The next read must not see an event whose completion is under way.
		if !pending.wait() {
			return false
		}
		pending = nil
		rows, err := s.db.Query(ctx, laneEvents, topic, s.cfg.ConsumerGroup, l.lane, s.cfg.BatchSize-delivered)
		if err != nil {
			if ctx.Err() != nil {
				return true
			}
			s.logger.Error("Reading a lane failed", err, fields)
			return false
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (laneRow, error) {
			var e laneRow
			err := r.Scan(&e.key, &e.uuid, &e.payload, metadataScanner{&e.metadata}, &e.orderKey)
			return e, err
		})
		if err != nil {
			s.logger.Error("Reading a lane failed", err, fields)
			return false
		}
		if len(evs) == 0 {
			return false
		}
		held := map[string]bool{} // keys held back during this read
		for _, ev := range evs {
			if ev.orderKey != nil && held[*ev.orderKey] {
				continue
			}
			if pending.sameKey(ev.orderKey) || pending.finished() {
				if !pending.wait() {
					return false
				}
				pending = nil
			}
			if !l.usable() {
				s.logger.Info("Lane lease lost or past its deadline; handing out nothing more", fields)
				return false
			}
			msg, acked, stop := s.deliver(ctx, msgCtx, out, ev.row)
			if stop == stopNow {
				return true
			}
			ok := true
			if acked {
				if !pending.wait() {
					return stop != goOn
				}
				pending = s.complete(ctx, topic, l, fields, ev)
			} else {
				if ev.orderKey != nil {
					held[*ev.orderKey] = true
				}
				md := ev.metadata
				if msg != nil {
					md = msg.Metadata
				}
				ok = s.hold(ctx, topic, l, ev.key, md, fields)
			}
			if !ok {
				return stop != goOn
			}
			delivered++
			if stop != goOn {
				return true
			}
		}
	}
	return false
}

// completion is an event's completion under way.
type completion struct {
	key  *string
	done chan struct{}
	ok   bool
}

// complete starts completing ev.
func (s *LaneSubscriber) complete(ctx context.Context, topic string, l *heldLane, fields watermill.LogFields, ev laneRow) *completion {
	c := &completion{key: ev.orderKey, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.ok = s.settle(ctx, topic, l, completeEvent, fields, ev.key)
	}()
	return c
}

// sameKey says whether key must wait for c.
func (c *completion) sameKey(key *string) bool {
	return c != nil && c.key != nil && key != nil && *c.key == *key
}

// finished says whether c is done.
func (c *completion) finished() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits for c and says whether it committed (true for none).
func (c *completion) wait() bool {
	if c == nil {
		return true
	}
	<-c.done
	return c.ok
}

type laneRow struct {
	row
	orderKey *string
}

// stopKind says how deliver ended with respect to stopping.
type stopKind int

const (
	goOn      stopKind = iota
	afterThis          // stopping: record this outcome, then stop
	stopNow            // stopping, the outcome unknown: leave the event pending
)

// deliver hands r out and waits for its ack or nack (no answer within
// AckDeadline is a nack, and msg is nil then: the handler still owns it).
// Once the subscriber closes it waits up to DrainTimeout for the answer.
func (s *LaneSubscriber) deliver(ctx, msgCtx context.Context, out chan<- *message.Message, r row) (
	msg *message.Message, acked bool, stop stopKind) {
	o := newOutgoing(msgCtx, r)
	defer o.cancel()
	msg = o.msg
	select {
	case out <- msg:
	case <-s.closing:
		return msg, false, stopNow
	case <-ctx.Done():
		return msg, false, stopNow
	}
	deadline := time.NewTimer(s.cfg.AckDeadline)
	defer deadline.Stop()
	closing := s.closing
	var drain <-chan time.Time
	for {
		select {
		case <-o.msg.Acked():
			return msg, true, stopIf(closing == nil)
		case <-o.msg.Nacked():
			return msg, false, stopIf(closing == nil)
		case <-deadline.C:
			// The handler may still be running (and writing the message's
			// metadata): the event is held back with what it was stored with.
			s.logger.Error("Message not acked within the ack deadline; holding it back for a new attempt", nil,
				watermill.LogFields{"message_uuid": r.uuid, "deadline": s.cfg.AckDeadline.String()})
			return nil, false, stopIf(closing == nil)
		case <-closing:
			closing = nil
			drain = time.After(s.cfg.DrainTimeout)
		case <-drain:
			s.logger.Info("Stopping with a delivery still running; it will be delivered again", nil)
			return msg, false, stopNow
		case <-ctx.Done():
			return msg, false, stopNow
		}
	}
}

func stopIf(b bool) stopKind {
	if b {
		return afterThis
	}
	return goOn
}

// settle runs a fenced write (completeEvent or holdEvent) for the event at
// offset; false when the lane was lost or the write failed.
//
// Unlike the topic's claims, it waits for the disk: the key's next event
// is handed out once this commit returns, and a server crash that lost it
// would deliver the key's older event again after a newer one (the split
// waits for the same reason).
func (s *LaneSubscriber) settle(ctx context.Context, topic string, l *heldLane, stmt string, fields watermill.LogFields,
	offset int64, extra ...any) bool {
	start := time.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	args := append([]any{topic, s.cfg.ConsumerGroup, l.lane, s.cfg.Owner, l.epoch, s.cfg.ClaimTTL.Seconds(), offset}, extra...)
	var owned, changed int64
	if err := s.db.QueryRow(wctx, stmt, args...).Scan(&owned, &changed); err != nil {
		s.logger.Error("Recording a lane event's outcome failed; it will be delivered again", err,
			fields.Add(watermill.LogFields{"offset": offset}))
		return false
	}
	if owned == 0 {
		l.lose()
		s.logger.Info("Lane was taken over after this owner's lease expired; its outcome is refused (fenced)",
			fields.Add(watermill.LogFields{"offset": offset}))
		if s.lcfg.OnFenced != nil {
			s.lcfg.OnFenced(l.lane, l.epoch)
		}
		return false
	}
	l.renewed(start, s.cfg.ClaimTTL)
	if changed == 0 {
		// moved to another lane by a change of the lane count: its new
		// lane delivers it (again)
		s.logger.Info("Lane event moved away meanwhile", fields.Add(watermill.LogFields{"offset": offset}))
	}
	return true
}

// hold records a failed delivery: the event waits until the time its
// metadata names (delay.DelayedUntilKey), else ResendInterval.
func (s *LaneSubscriber) hold(ctx context.Context, topic string, l *heldLane, offset int64, md message.Metadata,
	fields watermill.LogFields) bool {
	until := time.Now().Add(s.cfg.ResendInterval)
	state := make(map[string]string, len(md))
	maps.Copy(state, md)
	if u := state[delay.DelayedUntilKey]; u != "" {
		if t, err := time.Parse(time.RFC3339Nano, u); err == nil {
			until = t
		}
		delete(state, delay.DelayedUntilKey)
	}
	return s.settle(ctx, topic, l, holdEvent, fields, offset, until, state)
}

// release hands l back for anyone to take at once (a clean stop, or the
// end of a batch); its pending events stay in order.
func (s *LaneSubscriber) release(topic string, l *heldLane) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_, err := execRelaxed(ctx, s.db, `UPDATE tributary_lanes SET owner = '', expires_at = '-infinity'
		WHERE topic = $1 AND consumer_group = $2 AND lane = $3 AND owner = $4 AND epoch = $5`,
		topic, s.cfg.ConsumerGroup, l.lane, s.cfg.Owner, l.epoch)
	if err != nil {
		s.logger.Error("Handing back a lane failed; another instance takes it once its lease expires", err,
			watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup, "lane": strconv.Itoa(l.lane)})
	}
}
