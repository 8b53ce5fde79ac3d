// Package amqp delivers events to RabbitMQ (any AMQP 0-9-1 broker) and reads
// them from it, through a Watermill publisher and subscriber of its own on
// amqp091-go. See package brokers for what every broker sink and source
// guarantees; here:
//
//   - the sink publishes persistent messages on a confirm-mode channel and
//     counts a delivery done when the broker acked it (publisher confirms);
//     the event id is the message's message-id property and its
//     tributary_event_id header, the event type its type property;
//
//   - the source consumes a durable queue (declared, and bound to an
//     exchange when one is named), with manual acks: several instances
//     consuming one queue share its messages;
//
//   - neither the publisher nor the subscriber reconnects: a lost connection
//     fails the publish in hand or closes the subscription, and package
//     brokers connects afresh. (watermill-amqp, used before, reconnects by
//     itself, racily: v3.0.2's ConnectionWrapper writes its connected state
//     unlocked while IsConnected reads it.)
//
//     sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Exchange: "events", RoutingKey: "door.opened"}, logger)
//     src, err := amqp.NewSource(amqp.SourceConfig{Connection: amqp.Connection{URL: url}, Queue: "tributary-in"}, logger)
package amqp

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"

	"github.com/ThreeDotsLabs/watermill"
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
	c.ExchangeType = cmp.Or(c.ExchangeType, amqp091.ExchangeTopic)
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

// NewSink returns the AMQP sink; it connects at its first delivery.
func NewSink(cfg SinkConfig, logger watermill.LoggerAdapter) (*brokers.Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := topology{exchange: cfg.Exchange, exchangeType: cfg.ExchangeType, queue: cfg.Queue, key: cfg.RoutingKey}
	return brokers.NewSink(brokers.SinkConfig{
		Kind: "amqp", URL: cfg.URL, Target: fmt.Sprintf("exchange=%q routing_key=%q", cfg.Exchange, cfg.RoutingKey),
		Topic: cfg.RoutingKey, SinkOptions: cfg.SinkOptions, Logger: logger,
		Connect: func(watermill.LoggerAdapter) (message.Publisher, error) {
			return newPublisher(cfg.URL, t)
		},
	}), nil
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
	c.ExchangeType = cmp.Or(c.ExchangeType, amqp091.ExchangeTopic)
	c.Prefetch = cmp.Or(c.Prefetch, 1)
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
	t := topology{exchange: cfg.Exchange, exchangeType: cfg.ExchangeType, key: cfg.BindingKey}
	return brokers.NewSource(brokers.SourceConfig{
		Kind: "amqp", URL: cfg.URL, Topic: cfg.Queue, SourceOptions: cfg.SourceOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Subscriber, error) {
			return newSubscriber(cfg.URL, t, cfg.Prefetch, logger)
		},
	}), nil
}
