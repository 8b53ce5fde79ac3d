// Package redisstream delivers events to Redis Streams and reads them from
// one, through watermill-redisstream. See package brokers for what every
// broker sink and source guarantees; here:
//
//   - the sink XADDs each event and counts it delivered when Redis answered
//     the XADD with the entry's id; the entry carries the event id in its
//     event_id field (and Watermill's fields: payload, metadata,
//     _watermill_message_uuid), the event type in event_type;
//
//   - the source reads the stream in a consumer group (XREADGROUP) and XACKs
//     an entry once the router stored it: several instances in one group
//     share the entries, and an entry whose consumer died (pending longer than
//     ClaimIdle) is claimed by another.
//
//     sink, err := redisstream.NewSink(redisstream.SinkConfig{Connection: redisstream.Connection{URL: url}, Stream: "events"}, logger)
//     src, err := redisstream.NewSource(redisstream.SourceConfig{Connection: redisstream.Connection{URL: url}, Stream: "orders", Group: "tributary"}, logger)
package redisstream

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
)

// Connection is the Redis server, shared by the sink and source.
type Connection struct {
	// URL is redis:// or rediss://[user:password@]host:port/db; write the
	// password as ${ENV}. It is never shown.
	URL string `yaml:"url"`
}

func (c *Connection) validate() []error {
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || u.Host == "" {
		return []error{tributary.Option("url", "required; want redis://[user:password@]host:port/db (or rediss://)")}
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		// go-redis's words name the part, never the password.
		return []error{tributary.Option("url", "%s", brokers.NewRedactor(c.URL).String(err.Error()))}
	}
	return nil
}

// client returns a client for the URL (validated).
func (c *Connection) client() (*redis.Client, error) {
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// SinkConfig configures the Redis Streams sink.
type SinkConfig struct {
	Connection `yaml:",inline"`
	// Stream is the stream to XADD to.
	Stream string `yaml:"stream"`
	// MaxLen trims the stream to about this many entries (XADD MAXLEN ~);
	// zero keeps every entry.
	MaxLen              int64 `yaml:"max_len"`
	brokers.SinkOptions `yaml:",inline"`
}

// Validate implements components.Validator.
func (c *SinkConfig) Validate() error {
	errs := c.validate()
	if c.Stream == "" {
		errs = append(errs, tributary.Option("stream", "required"))
	}
	return errors.Join(append(errs, brokers.NotNegative("max_len", c.MaxLen), c.SinkOptions.Validate())...)
}

// NewSink returns the Redis Streams sink; it connects at its first delivery.
func NewSink(cfg SinkConfig, logger watermill.LoggerAdapter) (*brokers.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return brokers.NewSink(brokers.SinkConfig{
		Kind: "redisstream", URL: cfg.URL, Target: fmt.Sprintf("stream=%q", cfg.Stream),
		Topic: cfg.Stream, SinkOptions: cfg.SinkOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Publisher, error) {
			c, err := cfg.client()
			if err != nil {
				return nil, err
			}
			return wmredis.NewPublisher(wmredis.PublisherConfig{Client: c, Marshaller: Marshaller{}, DefaultMaxlen: cfg.MaxLen}, logger)
		},
	}), nil
}

// SourceConfig configures the Redis Streams source.
type SourceConfig struct {
	Connection `yaml:",inline"`
	// Stream is the stream to read; created (empty) with the group if missing.
	Stream string `yaml:"stream"`
	// Group is the consumer group; instances in one group share the entries.
	// "tributary" when empty.
	Group string `yaml:"group"`
	// Consumer names this instance in the group; a random name when empty.
	// A stable name lets a restarted instance resume its own pending
	// entries at once instead of after ClaimIdle.
	Consumer string `yaml:"consumer"`
	// Start is where a new group starts: "0" (the default) reads the stream
	// from its first entry, "$" only what is added after.
	Start string `yaml:"start"`
	// ClaimIdle is how long an entry read but not acked (its consumer died)
	// waits before another consumer claims it; 30 s when zero.
	ClaimIdle             time.Duration `yaml:"claim_idle"`
	brokers.SourceOptions `yaml:",inline"`
}

func (c *SourceConfig) setDefaults() {
	c.Group = cmp.Or(c.Group, "tributary")
	c.Start = cmp.Or(c.Start, "0")
	c.ClaimIdle = cmp.Or(c.ClaimIdle, 30*time.Second)
}

// Validate implements components.Validator.
func (c *SourceConfig) Validate() error {
	errs := c.validate()
	if c.Stream == "" {
		errs = append(errs, tributary.Option("stream", "required"))
	}
	errs = append(errs, brokers.NotNegative("claim_idle", c.ClaimIdle))
	switch c.Start {
	case "", "0", "$":
	default:
		errs = append(errs, tributary.Option("start", "%q: want 0 (the whole stream) or $ (new entries)", c.Start))
	}
	return errors.Join(errs...)
}

// NewSource returns the Redis Streams source; it connects when subscribed.
func NewSource(cfg SourceConfig, logger watermill.LoggerAdapter) (*brokers.Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	consumer := cmp.Or(cfg.Consumer, watermill.NewShortUUID())
	return brokers.NewSource(brokers.SourceConfig{
		Kind: "redisstream", URL: cfg.URL, Topic: cfg.Stream, SourceOptions: cfg.SourceOptions, Logger: logger,
		Connect: func(logger watermill.LoggerAdapter) (message.Subscriber, error) {
			c, err := cfg.client()
			if err != nil {
				return nil, err
			}
			return wmredis.NewSubscriber(wmredis.SubscriberConfig{
				Client: c, Unmarshaller: Marshaller{}, Consumer: consumer, ConsumerGroup: cfg.Group,
				OldestId: cfg.Start, MaxIdleTime: cfg.ClaimIdle, ClaimInterval: min(cfg.ClaimIdle, 5*time.Second),
				BlockTime: time.Second, DisableIndefiniteInitialBlock: true,
				// A nacked entry is handed on again after a pause, not at once.
				NackResendSleep: 500 * time.Millisecond,
				// Keep reading through errors (a lost connection): the
				// client reconnects.
				ShouldStopOnReadErrors: func(error) bool { return false },
			}, logger)
		},
	}), nil
}

// Fields of a stream entry the sink writes besides Watermill's.
const (
	FieldEventID   = "event_id"
	FieldEventType = "event_type"
	FieldPayload   = "payload"
)

// Marshaller is the wire format of both sides: Watermill's entry
// (_watermill_message_uuid, payload, metadata as msgpack) plus event_id and
// event_type fields any consumer can read. It reads entries of any
// producer: one without Watermill's fields becomes a message whose payload
// is its payload field, or, without one, its fields as a JSON object.
type Marshaller struct{}

// Marshal implements wmredis.Marshaller.
func (Marshaller) Marshal(topic string, msg *message.Message) (map[string]any, error) {
	v, err := wmredis.DefaultMarshallerUnmarshaller{}.Marshal(topic, msg)
	if err != nil {
		return nil, err
	}
	v[FieldEventID] = tributary.EventID(msg)
	if t := msg.Metadata.Get(tributary.MetaEventType); t != "" {
		v[FieldEventType] = t
	}
	return v, nil
}

// Unmarshal implements wmredis.Unmarshaller; it never fails (a failure
// would end the subscription).
func (Marshaller) Unmarshal(values map[string]any) (*message.Message, error) {
	var msg *message.Message
	if _, ok := values[wmredis.UUIDHeaderKey]; ok {
		msg, _ = wmredis.DefaultMarshallerUnmarshaller{}.Unmarshal(values) // nil when unreadable
	}
	if msg == nil {
		msg = foreign(values)
	}
	setField(msg, values, FieldEventID, brokers.MetaBrokerID)
	setField(msg, values, FieldEventType, tributary.MetaEventType)
	return msg, nil
}

// foreign is the message of an entry another producer wrote: its payload
// field, or all its fields as a JSON object; its event_id field is the
// broker id (else the source hashes the payload: the same entry, claimed
// again, hashes alike).
func foreign(values map[string]any) *message.Message {
	if p, ok := values[FieldPayload]; ok {
		return message.NewMessage(watermill.NewUUID(), []byte(fmt.Sprint(p)))
	}
	fields := make(map[string]string, len(values))
	for k, v := range values {
		fields[k] = fmt.Sprint(v)
	}
	payload, _ := json.Marshal(fields) // strings only: never fails
	return message.NewMessage(watermill.NewUUID(), payload)
}

func setField(msg *message.Message, values map[string]any, field, key string) {
	if s, ok := values[field].(string); ok && s != "" && msg.Metadata.Get(key) == "" {
		msg.Metadata.Set(key, s)
	}
}
