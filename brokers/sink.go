// Package brokers carries events to and from message brokers through their
// Watermill Pub/Subs: Sink wraps a broker's publisher as a Tributary sink,
// Source wraps its subscriber as a Tributary source. The broker packages
// below it (brokers/amqp, brokers/redisstream, brokers/natsjs) only build
// the Watermill Pub/Sub from their Config; what every broker shares lives
// here, once:
//
//   - a sink's delivery is done when the broker confirmed it (the broker
//     package configures publisher confirms, XADD's reply, JetStream's
//     PubAck); every attempt is recorded in the delivery log; a broker that
//     is down is an ordinary transient error, retried on the sink's schedule;
//   - a source acks a broker message only after the router acked the event
//     it became, i.e. once the event is stored in the pipeline's topic; the
//     event's id is stable across redeliveries, so the router's dedup absorbs
//     them;
//   - both connect lazily and keep reconnecting, so a broker that is down at
//     start delays events, never the process;
//   - the broker URL's credentials are redacted from errors, logs and the
//     delivery log (Redactor).
//
// Use a broker package directly:
//
//	sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: "events"}, logger)
//	src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: "orders"}, logger)
package brokers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// DefaultTimeout bounds one publish and the broker's confirmation of it.
const DefaultTimeout = 10 * time.Second

// SinkOptions are the options every broker sink shares, inlined in each
// broker's SinkConfig.
type SinkOptions struct {
	// Timeout bounds one publish including the broker's confirmation;
	// DefaultTimeout when zero.
	Timeout time.Duration `yaml:"timeout"`
	// Log records every attempt (the binary sets the database's delivery
	// log); nil records none.
	Log deliverylog.Recorder `yaml:"-"`
}

// Validate checks the shared options.
func (o SinkOptions) Validate() error { return NotNegative("timeout", o.Timeout) }

// NotNegative is the error for an option that must not be negative, nil
// when v is not.
func NotNegative[T ~int | ~int64](key string, v T) error {
	if v < 0 {
		return tributary.Option(key, "must not be negative")
	}
	return nil
}

// SinkConfig is what a broker package gives NewSink.
type SinkConfig struct {
	// Kind names the broker ("amqp", "redisstream", "natsjs") in errors.
	Kind string
	// URL is the broker's: its credentials are hidden in every error, log
	// line and delivery log row.
	URL string
	// Target says where on the broker deliveries go ("stream=x"); the
	// delivery log's endpoint is the URL without credentials and Target.
	Target string
	// Topic is passed to the publisher's Publish (the queue, routing key,
	// stream or subject, as the broker package maps it).
	Topic string
	// Connect builds the broker's publisher, logging to logger (which
	// redacts the URL); called at the first Publish and again after a
	// Publish failed.
	Connect func(logger watermill.LoggerAdapter) (message.Publisher, error)
	SinkOptions
	// Pipeline and Name name the sink in the delivery log; the router sets
	// them (Instrument) when they are empty.
	Pipeline, Name string
	Logger         watermill.LoggerAdapter
}

// Sink is a Tributary sink that publishes to a broker. Each message is
// published on its own and counts as delivered only when the broker
// confirmed it; the event id travels with it (tributary.MetaEventID, and the
// broker's own message id where it has one), so a consumer can deduplicate.
type Sink struct {
	cfg      SinkConfig
	redactor *Redactor
	endpoint string

	mu       sync.Mutex
	pub      message.Publisher
	pipeline string
	name     string
}

// NewSink returns a sink; it connects at its first Publish.
func NewSink(cfg SinkConfig) *Sink {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	red := NewRedactor(cfg.URL)
	cfg.Logger = red.Logger(cfg.Logger)
	endpoint := RedactURL(cfg.URL)
	if cfg.Target != "" {
		endpoint += " " + cfg.Target
	}
	return &Sink{cfg: cfg, redactor: red, endpoint: endpoint, pipeline: cfg.Pipeline, name: cfg.Name}
}

// Instrument implements router.Instrumented: it learns the sink's names for
// the delivery log, unless its config gave them.
func (s *Sink) Instrument(_ prometheus.Registerer, pipeline, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipeline == "" {
		s.pipeline = pipeline
	}
	if s.name == "" {
		s.name = name
	}
}

// publisher returns the connected publisher, connecting if need be.
func (s *Sink) publisher() (message.Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return s.pub, nil
	}
	p, err := s.cfg.Connect(s.cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.pub = p
	return p, nil
}

// drop discards pub after it failed, so the next attempt connects afresh
// (a client's own reconnecting may be stuck); closing it must not hold up
// the delivery path.
func (s *Sink) drop(pub message.Publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != pub {
		return
	}
	s.pub = nil
	go func() {
		if err := pub.Close(); err != nil {
			s.cfg.Logger.Debug("Closing a failed broker publisher", watermill.LogFields{"error": s.redactor.String(err.Error())})
		}
	}()
}

// Publish implements message.Publisher: the router's topic is ignored, the
// broker's target is the config's. Every error is transient: the router
// retries it on the sink's schedule, and poisons the event when the
// schedule is exhausted.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if err := s.deliver(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) deliver(m *message.Message) error {
	ctx, cancel := context.WithTimeout(m.Context(), s.cfg.Timeout)
	defer cancel()
	out := message.NewMessage(m.UUID, m.Payload)
	maps.Copy(out.Metadata, m.Metadata)
	out.Metadata.Set(tributary.MetaEventID, tributary.EventID(m))
	out.SetContext(ctx)

	start := time.Now()
	pub, err := s.publisher()
	if err == nil {
		if err = pub.Publish(s.cfg.Topic, out); err != nil {
			s.drop(pub)
		}
	}
	latency := time.Since(start)
	if err != nil {
		err = s.redactor.Error(fmt.Errorf("%s sink: %w", s.cfg.Kind, err))
	}
	s.record(context.WithoutCancel(m.Context()), m, latency, err)
	return err
}

func (s *Sink) record(ctx context.Context, m *message.Message, latency time.Duration, failure error) {
	if s.cfg.Log == nil {
		return
	}
	s.mu.Lock()
	pipeline, name := s.pipeline, s.name
	s.mu.Unlock()
	outcome, errText := deliverylog.OutcomeSuccess, ""
	if failure != nil {
		outcome, errText = deliverylog.OutcomeTransient, failure.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.cfg.Log.Record(ctx, deliverylog.Attempt{
		Pipeline: pipeline, Sink: name, Endpoint: s.endpoint, EventID: tributary.EventID(m),
		MessageUUID: m.UUID, Attempt: middleware.Attempts(m) + 1, Latency: latency,
		Outcome: outcome, Error: errText,
	})
	if err != nil {
		s.cfg.Logger.Error("Recording delivery attempt failed", err, watermill.LogFields{"event_id": tributary.EventID(m)})
	}
}

// Close closes the broker's publisher and flushes the delivery log.
func (s *Sink) Close() error {
	s.mu.Lock()
	pub := s.pub
	s.pub = nil
	s.mu.Unlock()
	var errs []error
	if pub != nil {
		errs = append(errs, s.redactor.Error(pub.Close()))
	}
	if s.cfg.Log != nil {
		errs = append(errs, deliverylog.Flush(s.cfg.Log))
	}
	return errors.Join(errs...)
}
