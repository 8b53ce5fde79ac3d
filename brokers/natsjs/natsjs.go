// Package natsjs delivers events to NATS JetStream subjects and reads them
// from one: the sink through watermill-nats's publisher, the source through
// a subscriber of its own on nats.go (subscriber.go says why). See package brokers for what every
// broker sink and source guarantees; here:
//
//   - the sink publishes to a subject and counts a delivery done when the
//     stream's PubAck arrived; the event id is the message's Nats-Msg-Id (so
//     the stream itself drops a repeat within its duplicate window, 2 min by
//     default) and its tributary_event_id header;
//   - the source reads the subject through a durable consumer with explicit
//     acks, as a queue group: several instances share the messages, and a
//     message not acked within AckWait is redelivered.
//
// Stream, when set, names a stream created (file storage, the subject only)
// if it does not exist; without it the subject must belong to a stream.
//
//	sink, err := natsjs.NewSink(natsjs.SinkConfig{Connection: natsjs.Connection{URL: url, Subject: "events.doors", Stream: "EVENTS"}}, logger)
//	src, err := natsjs.NewSource(natsjs.SourceConfig{Connection: natsjs.Connection{URL: url, Subject: "orders.>", Stream: "ORDERS"}, Durable: "tributary"}, logger)
package natsjs

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
)

// Connection is the NATS server and the subject, shared by sink and source.
type Connection struct {
	// URL is nats://[user:password@]host:port (or tls://); write the
	// password as ${ENV}. It is never shown.
	URL string `yaml:"url"`
	// Subject is published to (the sink) or consumed (the source; it may
	// hold wildcards).
	Subject string `yaml:"subject"`
	// Stream, when set, is created if missing, holding Subject.
	Stream string `yaml:"stream"`
}

func (c *Connection) validate() []error {
	var errs []error
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || u.Host == "" {
		errs = append(errs, tributary.Option("url", "required; want nats://[user:password@]host:port"))
	}
	if c.Subject == "" || strings.ContainsAny(c.Subject, " \t\r\n") {
		errs = append(errs, tributary.Option("subject", "required; a NATS subject without spaces"))
	}
	if strings.ContainsAny(c.Stream, " \t\r\n.*>") {
		errs = append(errs, tributary.Option("stream", "%q: a stream name has no spaces, dots or wildcards", c.Stream))
	}
	return errs
}

// connect dials the server (reconnecting for ever once connected) and
// creates the stream if one is named and missing.
func (c *Connection) connect() (*nats.Conn, nats.JetStreamContext, error) {
	nc, err := nats.Connect(c.URL, nats.Name("tributary"), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	js, err := nc.JetStream()
	if err == nil && c.Stream != "" {
		_, err = js.StreamInfo(c.Stream)
		if errors.Is(err, nats.ErrStreamNotFound) {
			_, err = js.AddStream(&nats.StreamConfig{Name: c.Stream, Subjects: []string{c.Subject}, Storage: nats.FileStorage})
		}
		if err != nil {
			err = fmt.Errorf("stream %s: %w", c.Stream, err)
		}
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// SinkConfig configures the JetStream sink.
type SinkConfig struct {
	Connection          `yaml:",inline"`
	brokers.SinkOptions `yaml:",inline"`
}

// Validate implements components.Validator.
func (c *SinkConfig) Validate() error {
	errs := c.validate()
	if strings.ContainsAny(c.Subject, "*>") {
		errs = append(errs, tributary.Option("subject", "a sink publishes to one subject: no wildcards"))
	}
	return errors.Join(append(errs, c.SinkOptions.Validate())...)
}

// NewSink returns the JetStream sink; it connects at its first delivery.
func NewSink(cfg SinkConfig, logger watermill.LoggerAdapter) (*brokers.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, brokers.DefaultTimeout)
	return brokers.NewSink(brokers.SinkConfig{
		Kind: "natsjs", URL: cfg.URL, Target: fmt.Sprintf("subject=%q", cfg.Subject),
		Topic: cfg.Subject, SinkOptions: cfg.SinkOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Publisher, error) {
			nc, _, err := cfg.connect()
			if err != nil {
				return nil, err
			}
			pub, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
				Marshaler: Marshaler{}, SubjectCalculator: wmnats.DefaultSubjectCalculator,
				JetStream: wmnats.JetStreamConfig{PublishOptions: []nats.PubOpt{nats.AckWait(cfg.Timeout)}},
			}, logger)
			if err != nil {
				nc.Close()
				return nil, err
			}
			return pub, nil
		},
	}), nil
}

// SourceConfig configures the JetStream source.
type SourceConfig struct {
	Connection `yaml:",inline"`
	// Durable names the durable consumer (and its queue group): instances
	// with one name share the messages. The binary names it after the
	// pipeline and source; "tributary" when empty.
	Durable string `yaml:"durable"`
	// AckWait is how long the server waits for an ack before redelivering;
	// 30 s when zero.
	AckWait time.Duration `yaml:"ack_wait"`
	// NakDelay is how long a nacked message waits before redelivery; 1 s
	// when zero.
	NakDelay time.Duration `yaml:"nak_delay"`
	// MaxAckPending bounds the messages the server sends ahead of their
	// acks; 256 when zero. The source hands on one at a time, so a message
	// waits its turn with AckWait running: keep MaxAckPending × the time to
	// store one event well below AckWait, or the server redelivers what is
	// still waiting (a repeat the dedup drops, but work done twice).
	MaxAckPending         int `yaml:"max_ack_pending"`
	brokers.SourceOptions `yaml:",inline"`
}

func (c *SourceConfig) setDefaults() {
	c.Durable = cmp.Or(c.Durable, "tributary")
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.NakDelay = cmp.Or(c.NakDelay, time.Second)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, 256)
}

// Validate implements components.Validator.
func (c *SourceConfig) Validate() error {
	errs := c.validate()
	if strings.ContainsAny(c.Durable, " \t\r\n.*>") {
		errs = append(errs, tributary.Option("durable", "%q: a consumer name has no spaces, dots or wildcards", c.Durable))
	}
	return errors.Join(append(errs, brokers.NotNegative("ack_wait", c.AckWait), brokers.NotNegative("nak_delay", c.NakDelay),
		brokers.NotNegative("max_ack_pending", c.MaxAckPending))...)
}

// NewSource returns the JetStream source; it connects when subscribed.
func NewSource(cfg SourceConfig, logger watermill.LoggerAdapter) (*brokers.Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return brokers.NewSource(brokers.SourceConfig{
		Kind: "natsjs", URL: cfg.URL, Topic: cfg.Subject, SourceOptions: cfg.SourceOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Subscriber, error) {
			nc, js, err := cfg.connect()
			if err != nil {
				return nil, err
			}
			return newSubscriber(nc, js, cfg, logger), nil
		},
	}), nil
}

// lineBreaks would end a NATS header early: a metadata value keeps its
// words on one line.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Marshaler is the wire format of both sides: watermill-nats's (payload as
// data, metadata as headers, _watermill_message_uuid) with the event id as
// Nats-Msg-Id. It reads messages of any producer: a header with several
// values keeps the first; the broker id is the Nats-Msg-Id, else the
// stream and sequence.
type Marshaler struct{}

// Marshal implements wmnats.Marshaler.
func (Marshaler) Marshal(subject string, msg *message.Message) (*nats.Msg, error) {
	nm, err := (&wmnats.NATSMarshaler{}).Marshal(subject, msg)
	if err != nil {
		return nil, err
	}
	for _, v := range nm.Header {
		for i := range v {
			v[i] = lineBreaks.Replace(v[i])
		}
	}
	nm.Header.Set(nats.MsgIdHdr, tributary.EventID(msg))
	return nm, nil
}

// Unmarshal implements wmnats.Unmarshaler; it never fails (a failure would
// leave the message unacked until AckWait, again and again).
func (Marshaler) Unmarshal(nm *nats.Msg) (*message.Message, error) {
	uuid := nm.Header.Get(wmnats.WatermillUUIDHdr)
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	msg := message.NewMessage(uuid, nm.Data)
	for k, v := range nm.Header {
		if len(v) > 0 && k != wmnats.WatermillUUIDHdr && k != nats.MsgIdHdr {
			msg.Metadata.Set(k, v[0])
		}
	}
	brokerID := nm.Header.Get(nats.MsgIdHdr)
	if brokerID == "" {
		if md, err := nm.Metadata(); err == nil {
			brokerID = fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
		}
	}
	if brokerID != "" {
		msg.Metadata.Set(brokers.MetaBrokerID, brokerID)
	}
	return msg, nil
}
