package socketio

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/namedlog"
	"github.com/tributary-dev/tributary/socketio/client"
)

// Metadata keys the source sets besides tributary.MetaEventID and MetaEventType.
const (
	MetaEvent      = "socketio_event"       // the Socket.IO event name
	MetaNamespace  = "socketio_namespace"   // the namespace it arrived on
	MetaReceivedAt = "socketio_received_at" // RFC 3339 time of arrival
	MetaOccurred   = "socketio_occurred"    // the event's "occurred", when it has one
	MetaTopic      = "socketio_topic"       // the event's own "topic" field (liveEvent carries the access event's)
)

// Config configures a Subscriber.
type Config struct {
	// Socket configures the connection the Subscriber opens, unless Client
	// is set. A pipeline file writes its keys beside the others (inline).
	Socket client.Config `yaml:",inline"`
	// Client is an existing client to share (e.g. with a socketcommand sink);
	// the Subscriber then neither configures nor closes it.
	Client *client.Client `yaml:"-"`
	// Topics keeps only matching events: exact names, prefixes such as
	// "door.*", or "*". Empty keeps every event.
	Topics []string `yaml:"topics"`
	// MaxInFlight is how many messages may await their ack at once; 1 when
	// zero, which keeps the socket's order in the pipeline topic.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxPending bounds the events held in memory; once reached the socket
	// is not read further (backpressure). 10 000 when zero.
	MaxPending int `yaml:"max_pending"`
	// NackDelay is the pause before a nacked message is redelivered; 100 ms when zero.
	NackDelay time.Duration `yaml:"nack_delay"`
	// DrainTimeout is how long Close, having stopped reading the socket,
	// keeps handing on the events already received until they are acked:
	// a socket cannot replay them. 20 s when zero.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

func (c *Config) setDefaults() {
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 1)
	c.MaxPending = cmp.Or(c.MaxPending, 10000)
	c.NackDelay = cmp.Or(c.NackDelay, 100*time.Millisecond)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 20*time.Second)
}

// Validate reports what is wrong with c, each an *tributary.OptionError
// naming its key (the connection's too, unless Client is set).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	for _, n := range []struct {
		key string
		v   int64
	}{{"max_in_flight", int64(c.MaxInFlight)}, {"max_pending", int64(c.MaxPending)},
		{"nack_delay", int64(c.NackDelay)}, {"drain_timeout", int64(c.DrainTimeout)}} {
		if n.v < 0 {
			bad(n.key, "must not be negative")
		}
	}
	if c.MaxPending > 0 && c.MaxInFlight > c.MaxPending {
		bad("max_in_flight", "%d must not exceed max_pending (%d)", c.MaxInFlight, c.MaxPending)
	}
	for i, t := range c.Topics {
		if t == "" || strings.Contains(strings.TrimSuffix(t, "*"), "*") {
			bad(fmt.Sprintf("topics[%d]", i), "%q: want an event name, a prefix ending in * (door.*) or *", t)
		}
	}
	if c.Client == nil {
		errs = append(errs, c.Socket.Validate())
	}
	return errors.Join(errs...)
}

// Subscriber is a message.Subscriber that emits every event of a Socket.IO
// 2.x (or plain JSON WebSocket) stream as a message, at least once while the
// process lives (the package doc says what a socket loses).
type Subscriber struct {
	cfg     Config
	client  *client.Client
	owned   bool
	logger  *namedlog.Logger // named by Instrument
	pending *pending
	// pendingGauge counts for nobody until Instrument registers it.
	pendingGauge atomic.Pointer[prometheus.Gauge]
	filter       topicFilter
	remove       func()

	mu        sync.Mutex
	active    bool
	draining  chan struct{} // Close began: hand on what is pending, then stop
	closed    chan struct{} // the drain ended: stop at once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewSubscriber validates cfg and builds a Subscriber; it connects on Subscribe.
func NewSubscriber(cfg Config, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	// Its lines name the source as the client's do, once (the client adds
	// "source" to its own lines, not to this logger).
	s := &Subscriber{cfg: cfg, client: cfg.Client, logger: namedlog.New(logger, "source"), filter: topicFilter(cfg.Topics),
		draining: make(chan struct{}), closed: make(chan struct{})}
	if s.client == nil {
		c, err := client.NewClient(cfg.Socket, logger)
		if err != nil {
			return nil, err
		}
		s.client, s.owned = c, true
	}
	unregistered := prometheus.Gauge(prometheus.NewGauge(prometheus.GaugeOpts{Name: "tributary_socketio_pending_events"}))
	s.pendingGauge.Store(&unregistered)
	s.pending = newPending(cfg.MaxPending, func(n float64) { (*s.pendingGauge.Load()).Set(n) })
	s.remove = s.client.OnEvent(s.onEvent)
	return s, nil
}

// Client is the connection the Subscriber reads.
func (s *Subscriber) Client() *client.Client { return s.client }

// Status is the connection's status.
func (s *Subscriber) Status() client.Status { return s.client.Status() }

// Pending is the number of events received but not yet acked.
func (s *Subscriber) Pending() int { return s.pending.len() }

// onEvent turns an event into a pending message.
func (s *Subscriber) onEvent(ctx context.Context, ev client.Event) {
	if !s.filter.match(ev.Name) {
		return
	}
	payload := []byte(ev.Data)
	if payload == nil {
		payload = []byte("null")
	}
	msg := tributary.NewEventMessage(EventID(ev.Name, ev.Data), payload)
	msg.Metadata.Set(tributary.MetaEventType, ev.Name)
	msg.Metadata.Set(MetaEvent, ev.Name)
	if ev.Namespace != "" {
		msg.Metadata.Set(MetaNamespace, ev.Namespace)
	}
	msg.Metadata.Set(MetaReceivedAt, ev.ReceivedAt.UTC().Format(time.RFC3339Nano))
	var env envelope
	if json.Unmarshal(ev.Data, &env) == nil { // a non-object has no envelope
		if occ := idString(env.Occurred); occ != "" {
			msg.Metadata.Set(MetaOccurred, occ)
		}
		if env.Topic != "" {
			msg.Metadata.Set(MetaTopic, env.Topic)
		}
	}
	if err := s.pending.put(ctx, s.closed, msg); err != nil {
		s.logger.Info("Event not kept: the source is closing", watermill.LogFields{"event": ev.Name})
	}
}

// Subscribe connects (if not already) and returns the channel of messages.
// The topic is not used: the filter is Config.Topics. One subscription at a
// time; events pending from an ended subscription go to the next.
func (s *Subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return nil, errors.New("socketio: subscriber closed")
	default:
	}
	if s.active {
		return nil, errors.New("socketio: already subscribed; a socket source feeds one subscription")
	}
	s.active = true
	out := make(chan *message.Message)
	s.wg.Add(1)
	go s.deliver(ctx, out)
	s.client.Start()
	return out, nil
}

// deliver hands pending messages out, at most MaxInFlight unacked at once,
// and puts nacked ones back in front.
func (s *Subscriber) deliver(ctx context.Context, out chan<- *message.Message) {
	defer s.wg.Done()
	var watchers sync.WaitGroup
	defer func() {
		watchers.Wait()
		close(out)
		s.mu.Lock()
		s.active = false
		s.mu.Unlock()
	}()
	draining := s.draining
	for {
		for {
			orig, ok := s.pending.take(s.cfg.MaxInFlight)
			if !ok {
				break
			}
			msg := orig.Copy()
			msg.SetContext(ctx)
			select {
			case out <- msg:
			case <-ctx.Done():
				s.pending.requeue(orig)
				return
			case <-s.closed:
				s.pending.requeue(orig)
				return
			}
			watchers.Add(1)
			go func() {
				defer watchers.Done()
				s.watch(ctx, orig, msg)
			}()
		}
		if draining == nil && s.pending.len() == 0 {
			return // drained: everything received was acked
		}
		select {
		case <-s.pending.changed:
		case <-draining:
			draining = nil
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		}
	}
}

func (s *Subscriber) watch(ctx context.Context, orig, msg *message.Message) {
	select {
	case <-msg.Acked():
		s.pending.done()
	case <-msg.Nacked():
		s.logger.Debug("Message nacked; redelivering", watermill.LogFields{"event_id": tributary.EventID(orig)})
		select {
		case <-time.After(s.cfg.NackDelay):
		case <-ctx.Done():
		case <-s.closed:
		}
		s.pending.requeue(orig)
	case <-ctx.Done():
		s.pending.requeue(orig)
	case <-s.closed:
		s.pending.requeue(orig)
	}
}

// Close stops reading the socket, then keeps handing on the events already
// received until each is acked — a socket cannot send them again — for up
// to DrainTimeout, and ends every subscription. A connection of its own is
// left cleanly (client.Client.Close), so a clean stop or a hand-over drops
// nothing the provider sent; a shared one stays open, and the source stops
// taking its events at once.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		if s.owned {
			_ = s.client.Close()
		}
		s.remove()
		close(s.draining)
		drained := make(chan struct{})
		go func() { s.wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(s.cfg.DrainTimeout):
		}
		close(s.closed)
		s.wg.Wait()
		if n := s.pending.len(); n > 0 {
			s.logger.Error("Socket source closed with unacked events; they are lost (a socket cannot replay)",
				fmt.Errorf("%d events pending", n), nil)
		}
	})
	return nil
}
