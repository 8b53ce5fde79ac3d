package brokers

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
)

// SourceOptions are the options every broker source shares: where an
// event's id and type are found. They are inlined in each broker's
// SourceConfig.
type SourceOptions struct {
	// IDField is a top-level JSON field of the message body holding the
	// event id; when empty or absent from a message, the broker's message id
	// is the id (the AMQP message-id, the Nats-Msg-Id or the JetStream
	// sequence, a Tributary sink's event id), else a hash of the body.
	IDField string `yaml:"id_field"`
	// TypeField is a top-level JSON field holding the event type; "type"
	// when empty.
	TypeField string `yaml:"type_field"`
}

// MetaBrokerID is the metadata key under which a broker package's
// unmarshaler puts the broker's own id of a message ("" when it has none).
const MetaBrokerID = "tributary_broker_id"

// SourceConfig is what a broker package gives NewSource.
type SourceConfig struct {
	// Kind names the broker in errors and logs.
	Kind string
	// Topic is passed to the subscriber's Subscribe (queue, stream or
	// subject, as the broker package maps it).
	Topic string
	// URL is the broker's: its credentials are hidden in every error and
	// log line.
	URL string
	// Connect builds the broker's subscriber, logging to logger (which
	// redacts the URL); called when the source starts and again after a
	// subscription failed or ended.
	Connect func(logger watermill.LoggerAdapter) (message.Subscriber, error)
	SourceOptions
	Logger watermill.LoggerAdapter
}

// Source is a Tributary source that reads a broker. It hands on one message
// at a time and acks the broker's message only when the router acked the
// event (stored it in the pipeline's topic); a nack is passed to the broker,
// which redelivers. A message the broker redelivers (after a crash, a lost
// connection, an ack that did not arrive) becomes an event with the same id,
// which the router's dedup drops.
//
// Subscribe never fails for a broker that is down: the source keeps
// connecting (backing off up to 30 s) and resubscribes when a subscription
// ends, until its context ends or it is closed.
type Source struct {
	cfg      SourceConfig
	redactor *Redactor
	closing  chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// NewSource returns a source; it connects when subscribed.
func NewSource(cfg SourceConfig) *Source {
	red := NewRedactor(cfg.URL)
	cfg.Logger = red.Logger(cfg.Logger)
	cfg.TypeField = cmp.Or(cfg.TypeField, "type")
	return &Source{cfg: cfg, redactor: red, closing: make(chan struct{})}
}

// Subscribe implements message.Subscriber; the topic is the config's.
func (s *Source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	select {
	case <-s.closing:
		return nil, fmt.Errorf("%s source: closed", s.cfg.Kind)
	default:
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		s.run(ctx, out)
	}()
	return out, nil
}

// run connects, subscribes and forwards until ctx ends or the source closes.
func (s *Source) run(ctx context.Context, out chan<- *message.Message) {
	backoff := 100 * time.Millisecond
	for {
		err := s.subscribeOnce(ctx, out)
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		default:
		}
		if err != nil {
			s.cfg.Logger.Error("Broker subscription failed; retrying", s.redactor.Error(err), watermill.LogFields{"retry_in": backoff.String()})
		} else {
			// The subscription ended by itself: start again at once.
			backoff = 100 * time.Millisecond
			s.cfg.Logger.Info("Broker subscription ended; subscribing again", nil)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// subscribeOnce runs one subscription to its end; the subscriber is closed
// after the message in hand was acked or nacked (or ctx ended).
func (s *Source) subscribeOnce(ctx context.Context, out chan<- *message.Message) error {
	sub, err := s.cfg.Connect(s.cfg.Logger)
	if err != nil {
		return fmt.Errorf("%s source: connect: %w", s.cfg.Kind, err)
	}
	defer func() {
		if err := sub.Close(); err != nil {
			s.cfg.Logger.Error("Closing broker subscriber", s.redactor.Error(err), nil)
		}
	}()
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	in, err := sub.Subscribe(subCtx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("%s source: subscribe: %w", s.cfg.Kind, err)
	}
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return nil
			}
			if !s.forward(ctx, m, out) {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}

// forward hands m on as an event and passes its ack or nack back to m. It
// reports false when the source stops: m is then neither acked nor nacked,
// and the broker redelivers it. Once handed on, it waits for the router's
// word even while closing: the router ingests what it was given (within its
// CloseTimeout, then ctx).
func (s *Source) forward(ctx context.Context, m *message.Message, out chan<- *message.Message) bool {
	acked, ok := handOn(ctx, s.closing, nil, s.Event(m), out)
	switch {
	case !ok:
		return false
	case acked:
		m.Ack()
	default:
		m.Nack()
	}
	return true
}

// Event returns the event a broker message becomes: its id is the
// configured id field's value, else the broker's id, else a hash of the
// payload, so the same broker message always becomes the same event. The
// message's metadata is kept, except Tributary's own keys of another
// pipeline (its source and pipeline) and Watermill's.
func (s *Source) Event(m *message.Message) *message.Message {
	fieldID, typ := "", ""
	if s.cfg.IDField != "" || s.cfg.TypeField != "" {
		fieldID, typ = tributary.EventFields(m.Payload, s.cfg.IDField, s.cfg.TypeField)
	}
	id := fieldID
	if s.cfg.IDField == "" || id == "" {
		id = m.Metadata.Get(tributary.MetaEventID)
	}
	if id == "" {
		id = m.Metadata.Get(MetaBrokerID)
	}
	if id == "" {
		id = tributary.BodyID(m.Payload)
	}
	e := tributary.NewEventMessage(id, m.Payload)
	for k, v := range m.Metadata {
		switch {
		case k == tributary.MetaSource, k == tributary.MetaPipeline, k == tributary.MetaEventID, k == MetaBrokerID:
		case strings.HasPrefix(k, "_watermill"):
		default:
			e.Metadata.Set(k, v)
		}
	}
	if typ != "" && e.Metadata.Get(tributary.MetaEventType) == "" {
		e.Metadata.Set(tributary.MetaEventType, typ)
	}
	return e
}

// Close stops reading: no new message is handed on; one already handed on
// is still acked to the broker when the router acks it. It does not wait
// for that (the router does, within its CloseTimeout, then ends the
// subscription's context).
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closing) })
	return nil
}

// Wait blocks until every subscription has ended (after Close and the
// router's ack of the message in hand, or after their contexts ended).
func (s *Source) Wait() { s.wg.Wait() }
