package jstopic

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// ackTimeout bounds the wait for the server to confirm an ack.
const ackTimeout = 10 * time.Second

// fetchWait is how long one pull waits for messages: how late a stopping
// subscription notices, at most.
const fetchWait = time.Second

// Subscriber reads topics as one consumer group through its durable pull
// consumer. Every instance reading as the group shares the consumer, so a
// message goes to one of them; each sink has its own group (fan-out).
//
// A subscription pulls (Fetch) only as many messages as it has free slots
// (MaxInFlight) and hands each out at once, so a crash repeats only what was
// in flight (after AckWait), and a stopping subscription naks what reaches
// it. An ack is confirmed by the server (double ack) before the slot is
// freed; a nacked message is handed back after NackDelay. On a retry topic
// a message not yet due (delay.DelayedUntilKey) goes back with NakWithDelay
// without taking a slot: JetStream holds the waiting ones.
//
// Close stops pulling, hands back what was pulled but not handed out, and
// waits up to DrainTimeout for what is being delivered: a clean stop
// repeats nothing.
type Subscriber struct {
	js     jetstream.JetStream
	cfg    Config
	logger watermill.LoggerAdapter

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	abandon chan struct{} // closed once DrainTimeout has passed in Close
	subs    sync.WaitGroup
}

// subscription is one Subscribe: its deliveries under way, which its output
// outlives.
type subscription struct {
	mu       sync.Mutex
	stopped  bool
	inFlight sync.WaitGroup
}

// start counts a delivery in, unless the subscription has stopped.
func (sub *subscription) start() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped {
		return false
	}
	sub.inFlight.Add(1)
	return true
}

// stop lets no delivery start and waits for those under way.
func (sub *subscription) stop() {
	sub.mu.Lock()
	sub.stopped = true
	sub.mu.Unlock()
	sub.inFlight.Wait()
}

// NewSubscriber returns a subscriber on js reading as cfg.Group; it shares
// js's connection and never closes it.
func NewSubscriber(js jetstream.JetStream, cfg Config, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Subscriber{js: js, cfg: cfg, logger: logger, closing: make(chan struct{}), abandon: make(chan struct{})}, nil
}

// SubscribeInitialize creates the topic's stream and the group's consumer.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	_, err := EnsureConsumer(ctx, s.js, topic, s.cfg)
	return err
}

// Subscribe implements message.Subscriber.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("jstopic: subscriber closed")
	}
	s.subs.Add(1)
	s.mu.Unlock()
	cons, err := EnsureConsumer(ctx, s.js, topic, s.cfg)
	if err != nil {
		s.subs.Done()
		return nil, err
	}
	retry := placeOf(topic).retry
	out := make(chan *message.Message)
	sub := &subscription{}
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	fields := watermill.LogFields{"topic": topic, "group": s.cfg.Group}
	go func() {
		defer s.subs.Done()
		// Deliveries under way still answer to their handlers; out closes
		// once none is left to send on it.
		defer func() {
			sub.stop()
			close(out)
		}()
		for {
			// Wait for a free slot, then ask for as many messages as there
			// are free slots: what is pulled is handed out at once, never
			// left waiting in a buffer while its AckWait runs.
			select {
			case slots <- struct{}{}:
			case <-s.closing:
				return
			case <-ctx.Done():
				return
			}
			held := 1
		more:
			for held < cap(slots) {
				select {
				case slots <- struct{}{}:
					held++
				default:
					break more
				}
			}
			batch, err := cons.Fetch(held, jetstream.FetchMaxWait(fetchWait))
			if err == nil {
				for jm := range batch.Messages() {
					if retry {
						if wait := untilDue(jm); wait > 0 {
							// JetStream holds it until due; no slot is taken.
							if err := jm.NakWithDelay(wait); err != nil {
								s.logger.Error("Cannot put back a retry not yet due", err, fields)
							}
							continue
						}
					}
					if held == 0 || !sub.start() {
						_ = jm.Nak() // closing: another instance, or the next run, takes it
						continue
					}
					held--
					go func() {
						defer sub.inFlight.Done()
						defer func() { <-slots }()
						s.deliver(ctx, jm, out, fields)
					}()
				}
				err = batch.Error()
			}
			for ; held > 0; held-- {
				<-slots
			}
			if err != nil {
				s.logger.Debug("JetStream fetch failed", fields.Add(watermill.LogFields{"err": err.Error()}))
				select { // no hot loop while the server is away
				case <-time.After(fetchWait / 4):
				case <-s.closing:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out, nil
}

// deliver hands jm to the handler and reports its outcome to the server.
func (s *Subscriber) deliver(ctx context.Context, jm jetstream.Msg, out chan<- *message.Message, fields watermill.LogFields) {
	m, err := wmjs.DefaultUnmarshaler{}.Unmarshal(jm)
	if err != nil {
		// Unreadable now is unreadable forever: keep it out of the way.
		s.logger.Error("Cannot read message; terminated", err, fields)
		_ = jm.Term()
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.SetContext(mctx)
	select {
	case out <- m:
	case <-s.closing:
		_ = jm.Nak()
		return
	case <-ctx.Done():
		_ = jm.Nak()
		return
	}
	progress := time.NewTicker(s.cfg.AckWait / 3)
	defer progress.Stop()
	closing := s.closing
	for {
		select {
		case <-closing:
			// The message's context ends with the subscriber, as Watermill's
			// subscribers do; its outcome is still awaited and reported.
			cancel()
			closing = nil
		case <-m.Acked():
			actx, acancel := context.WithTimeout(context.Background(), ackTimeout)
			err := jm.DoubleAck(actx)
			acancel()
			if err != nil {
				s.logger.Error("Cannot ack; the message will be delivered again", err, fields.Add(watermill.LogFields{"uuid": m.UUID}))
			}
			return
		case <-m.Nacked():
			// Wait here, then a plain nak: a NakWithDelay on a consumer at
			// its MaxAckPending can be left pending until AckWait when the
			// next pull reaches the server first (seen on nats-server 2.9
			// under load), stalling an ordered sink for AckWait.
			select {
			case <-time.After(s.cfg.NackDelay):
			case <-s.closing:
			}
			if err := jm.Nak(); err != nil {
				s.logger.Error("Cannot nack", err, fields.Add(watermill.LogFields{"uuid": m.UUID}))
			}
			return
		case <-progress.C:
			_ = jm.InProgress()
		case <-s.abandon:
			// Given up at the drain timeout: hand it back now (best
			// effort; otherwise it returns after AckWait).
			_ = jm.Nak()
			return
		}
	}
}

// untilDue is how long a retry message still has to wait.
func untilDue(jm jetstream.Msg) time.Duration {
	until, err := time.Parse(time.RFC3339Nano, jm.Headers().Get(delay.DelayedUntilKey))
	if err != nil {
		return 0 // none, or unreadable: due now
	}
	return time.Until(until)
}

// Close implements message.Subscriber; see Subscriber.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.subs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.DrainTimeout):
		// Expected when the router abandons deliveries at its CloseTimeout:
		// not an error of closing.
		s.logger.Info("Deliveries still under way when closing; they will be delivered again",
			watermill.LogFields{"group": s.cfg.Group, "drain_timeout": s.cfg.DrainTimeout.String()})
		close(s.abandon)
		<-done
		return nil
	}
}
