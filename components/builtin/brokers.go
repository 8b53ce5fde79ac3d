package builtin

import (
	"github.com/tributary-dev/tributary/components"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/brokers/natsjs"
	"github.com/tributary-dev/tributary/brokers/redisstream"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// The broker types (package brokers): RabbitMQ, Redis Streams and NATS
// JetStream, each a sink and a source with the options of its package's
// SinkConfig / SourceConfig. The sinks record every attempt in the delivery
// log; the sources run in every instance, since the broker shares their
// messages out (a durable queue's consumers, a consumer group, a durable
// consumer's queue group).
func init() {
	components.RegisterSink("amqp", "publishes each event to RabbitMQ (AMQP 0-9-1) with publisher confirms",
		func(env components.Env, o *amqp.SinkConfig) (message.Publisher, error) {
			cfg := *o
			cfg.Log = deliveryLog(env)
			return amqp.NewSink(cfg, env.Logger)
		})
	components.RegisterSink("redisstream", "XADDs each event to a Redis stream",
		func(env components.Env, o *redisstream.SinkConfig) (message.Publisher, error) {
			cfg := *o
			cfg.Log = deliveryLog(env)
			return redisstream.NewSink(cfg, env.Logger)
		})
	components.RegisterSink("natsjs", "publishes each event to a NATS JetStream subject, acknowledged by the stream",
		func(env components.Env, o *natsjs.SinkConfig) (message.Publisher, error) {
			cfg := *o
			cfg.Log = deliveryLog(env)
			return natsjs.NewSink(cfg, env.Logger)
		})

	components.RegisterSource("amqp", "consumes a durable RabbitMQ queue; acks once an event is stored",
		func(env components.Env, o *amqp.SourceConfig) (tributary.Source, error) {
			return components.FromSubscriber(func() (message.Subscriber, error) { return amqp.NewSource(*o, env.Logger) })
		}, components.RunOnEveryInstance())
	components.RegisterSource("redisstream", "reads a Redis stream in a consumer group; XACKs once an event is stored",
		func(env components.Env, o *redisstream.SourceConfig) (tributary.Source, error) {
			return components.FromSubscriber(func() (message.Subscriber, error) { return redisstream.NewSource(*o, env.Logger) })
		}, components.RunOnEveryInstance())
	components.RegisterSource("natsjs", "reads a NATS JetStream subject through a durable consumer; acks once an event is stored",
		func(env components.Env, o *natsjs.SourceConfig) (tributary.Source, error) {
			cfg := *o
			if cfg.Durable == "" {
				// Per pipeline and source: two sources reading one subject
				// must not share a consumer.
				cfg.Durable = consumerName("tributary_" + env.Pipeline + "_" + env.Name)
			}
			return components.FromSubscriber(func() (message.Subscriber, error) { return natsjs.NewSource(cfg, env.Logger) })
		}, components.RunOnEveryInstance())
}

// deliveryLog is the database's delivery log, nil without a database.
func deliveryLog(env components.Env) deliverylog.Recorder {
	if env.Pool == nil {
		return nil
	}
	return deliverylog.NewPostgres(env.Pool)
}

// consumerName makes s a valid JetStream consumer name.
func consumerName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n', '/', '\\':
			return '_'
		}
		return r
	}, s)
}
