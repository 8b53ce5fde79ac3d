// Package amqp delivers events to RabbitMQ (any AMQP 0-9-1 broker) and reads
// them from it, through watermill-amqp. See package brokers for what every
// broker sink and source guarantees; here:
//
//   - the sink publishes persistent messages on a confirm-mode channel and
//     counts a delivery done when the broker acked it (publisher confirms);
//     the event id is the message's message-id property and its
//     tributary_event_id header, the event type its type property;
//
//   - the source consumes a durable queue (declared, and bound to an
//     exchange when one is named), with manual acks: several instances
//     consuming one queue share its messages.
//
//     sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Exchange: "events", RoutingKey: "door.opened"}, logger)
//     src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: "tributary-in"}, logger)
package amqp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
)

// Connection is the broker to connect to, shared by the sink and source.
type Connection struct {
	// URL is amqp:// or amqps://user:password@host:port/vhost; write the
	// password as ${ENV}. It is never shown: errors, logs and the delivery
	// log carry it without the password.
	URL string `yaml:"url"`
}

func (c *Connection) validate() []error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		// Never quote the URL: it holds the password.
		return []error{tributary.Option("url", "required; want amqp://user:password@host:port/vhost (or amqps://)")}
	}
	return nil
}

// SinkConfig configures the AMQP sink. It publishes to Exchange with
// RoutingKey, or, with no exchange, to Queue through the default exchange.
type SinkConfig struct {
	Connection `yaml:",inline"`
	// Exchange is the exchange to publish to, declared durable of
	// ExchangeType if missing; empty for the default exchange (then Queue
	// is required and is the routing key).
	Exchange string `yaml:"exchange"`
	// ExchangeType is direct, fanout, topic (the default) or headers.
	ExchangeType string `yaml:"exchange_type"`
	// RoutingKey is each message's routing key (with an exchange).
	RoutingKey string `yaml:"routing_key"`
	// Queue, when set, is declared durable (and bound to Exchange with
	// RoutingKey) before the first publish, so that nothing published before
	// its consumer first connects is dropped as unroutable.
	Queue               string `yaml:"queue"`
	brokers.SinkOptions `yaml:",inline"`
}

func (c *SinkConfig) setDefaults() {
	if c.ExchangeType == "" {
		c.ExchangeType = amqp091.ExchangeTopic
	}
	if c.Exchange == "" && c.RoutingKey == "" {
		c.RoutingKey = c.Queue
	}
}

// Validate implements components.Validator.
func (c *SinkConfig) Validate() error {
	errs := c.validate()
	if c.Exchange == "" && c.Queue == "" {
		errs = append(errs, tributary.Option("queue", "required unless exchange is set"))
	}
	errs = append(errs, validExchangeType(c.ExchangeType)...)
	return errors.Join(append(errs, c.SinkOptions.Validate())...)
}

func validExchangeType(t string) []error {
	switch t {
	case "", amqp091.ExchangeDirect, amqp091.ExchangeFanout, amqp091.ExchangeTopic, amqp091.ExchangeHeaders:
		return nil
	}
	return []error{tributary.Option("exchange_type", "%q: want direct, fanout, topic or headers", t)}
}

// wmConfig is the watermill-amqp config both sides start from: durable
// topology, persistent messages, this package's marshaler.
func (c Connection) wmConfig(exchange, exchangeType, queue, key string) wamqp.Config {
	cfg := wamqp.NewDurableTopicConfig(c.URL, exchange, queue)
	cfg.Exchange.Type = exchangeType
	cfg.Marshaler = Marshaler{}
	cfg.QueueBind.GenerateRoutingKey = func(string) string { return key }
	cfg.Publish.GenerateRoutingKey = func(string) string { return key }
	// Quiet reconnects: the sink drops a failed publisher and the source
	// resubscribes, each on its own schedule.
	cfg.Connection.Reconnect = &wamqp.ReconnectConfig{BackoffInitialInterval: 100 * time.Millisecond,
		BackoffMultiplier: 2, BackoffMaxInterval: 5 * time.Second, BackoffRandomizationFactor: 0.5}
	return cfg
}

// NewSink returns the AMQP sink; it connects at its first delivery.
func NewSink(cfg SinkConfig, logger watermill.LoggerAdapter) (*brokers.Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wm := cfg.wmConfig(cfg.Exchange, cfg.ExchangeType, cfg.Queue, cfg.RoutingKey)
	wm.Publish.ConfirmDelivery = true
	return brokers.NewSink(brokers.SinkConfig{
		Kind: "amqp", URL: cfg.URL, Target: fmt.Sprintf("exchange=%q routing_key=%q", cfg.Exchange, cfg.RoutingKey),
		Topic: cfg.RoutingKey, SinkOptions: cfg.SinkOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Publisher, error) {
			pub, err := wamqp.NewPublisher(wm, logger)
			if err != nil {
				return nil, err
			}
			if cfg.Queue != "" {
				if err := declareQueue(pub.ConnectionWrapper, wm, cfg.Exchange, cfg.Queue, cfg.RoutingKey, logger); err != nil {
					_ = pub.Close()
					return nil, err
				}
			}
			return pub, nil
		},
	}), nil
}

// declareQueue declares the sink's queue (and its binding) as the source
// would, on a channel of its own.
func declareQueue(conn *wamqp.ConnectionWrapper, wm wamqp.Config, exchange, queue, key string, logger watermill.LoggerAdapter) error {
	ch, err := conn.Connection().Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer func() { _ = ch.Close() }()
	return wm.TopologyBuilder.BuildTopology(ch, wamqp.BuildTopologyParams{
		Topic: key, QueueName: queue, ExchangeName: exchange, RoutingKey: key,
	}, wm, logger)
}

// SourceConfig configures the AMQP source: it consumes Queue, declared
// durable, bound to Exchange with BindingKey when an exchange is named.
type SourceConfig struct {
	Connection `yaml:",inline"`
	// Queue is the durable queue to consume; several instances consuming
	// it share its messages.
	Queue string `yaml:"queue"`
	// Exchange, when set, is declared durable of ExchangeType and the queue
	// is bound to it with BindingKey.
	Exchange     string `yaml:"exchange"`
	ExchangeType string `yaml:"exchange_type"`
	BindingKey   string `yaml:"binding_key"`
	// Prefetch is how many unacked messages the broker sends ahead; 1 when
	// zero (the source hands on one at a time).
	Prefetch              int `yaml:"prefetch"`
	brokers.SourceOptions `yaml:",inline"`
}

func (c *SourceConfig) setDefaults() {
	if c.ExchangeType == "" {
		c.ExchangeType = amqp091.ExchangeTopic
	}
	if c.Prefetch == 0 {
		c.Prefetch = 1
	}
	if c.Exchange != "" && c.BindingKey == "" {
		c.BindingKey = "#"
	}
}

// Validate implements components.Validator.
func (c *SourceConfig) Validate() error {
	errs := c.validate()
	if c.Queue == "" {
		errs = append(errs, tributary.Option("queue", "required"))
	}
	errs = append(errs, validExchangeType(c.ExchangeType)...)
	return errors.Join(append(errs, brokers.NotNegative("prefetch", c.Prefetch))...)
}

// NewSource returns the AMQP source; it connects when subscribed.
func NewSource(cfg SourceConfig, logger watermill.LoggerAdapter) (*brokers.Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wm := cfg.wmConfig(cfg.Exchange, cfg.ExchangeType, cfg.Queue, cfg.BindingKey)
	wm.Consume.Qos.PrefetchCount = cfg.Prefetch
	return brokers.NewSource(brokers.SourceConfig{
		Kind: "amqp", URL: cfg.URL, Topic: cfg.Queue, SourceOptions: cfg.SourceOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Subscriber, error) {
			return wamqp.NewSubscriber(wm, logger)
		},
	}), nil
}

// Marshaler is the wire format of both sides: the payload is the body, the
// metadata are headers, the event id is the message-id property (and the
// tributary_event_id header), the event type the type property. It reads
// messages of any producer: a header that is not a string is kept in its
// text form, the message-id is the broker id of a message without Tributary
// headers.
type Marshaler struct{}

// Marshal implements wamqp.Marshaler.
func (Marshaler) Marshal(msg *message.Message) (amqp091.Publishing, error) {
	headers := make(amqp091.Table, len(msg.Metadata)+1)
	for k, v := range msg.Metadata {
		headers[k] = v
	}
	headers[wamqp.DefaultMessageUUIDHeaderKey] = msg.UUID
	p := amqp091.Publishing{
		Headers:      headers,
		MessageId:    tributary.EventID(msg),
		Type:         msg.Metadata.Get(tributary.MetaEventType),
		DeliveryMode: amqp091.Persistent,
		Body:         msg.Payload,
	}
	if json.Valid(msg.Payload) {
		p.ContentType = "application/json"
	}
	return p, nil
}

// Unmarshal implements wamqp.Marshaler; it never fails.
func (Marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	uuid, _ := d.Headers[wamqp.DefaultMessageUUIDHeaderKey].(string)
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	msg := message.NewMessage(uuid, d.Body)
	for k, v := range d.Headers {
		if k == wamqp.DefaultMessageUUIDHeaderKey {
			continue
		}
		if s, ok := v.(string); ok {
			msg.Metadata.Set(k, s)
		} else {
			msg.Metadata.Set(k, fmt.Sprint(v))
		}
	}
	if d.MessageId != "" {
		msg.Metadata.Set(brokers.MetaBrokerID, d.MessageId)
	}
	if d.Type != "" && msg.Metadata.Get(tributary.MetaEventType) == "" {
		msg.Metadata.Set(tributary.MetaEventType, d.Type)
	}
	return msg, nil
}
