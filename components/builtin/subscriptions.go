package builtin

import (
	"errors"
	"github.com/tributary-dev/tributary/components"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// The subscriptions sink is sinks/subscriptions: endpoints as rows in
// Postgres, managed at runtime (`tributary endpoints add|update|remove`, the
// admin API), each event delivered to every enabled endpoint subscribed to
// its type (and tenant), each endpoint with its own queue, breaker, rate
// limit and 410-disable. It needs the database.
func init() {
	components.RegisterSink("subscriptions", "webhook delivery to endpoints managed at runtime, per event type and tenant (rows in Postgres)",
		func(env components.Env, o *SubscriptionsConfig) (message.Publisher, error) {
			if env.Pool == nil {
				return nil, errors.New("the subscriptions sink keeps its endpoints in Postgres: it needs the database")
			}
			cfg := o.Config
			cfg.Pool, cfg.Pipeline, cfg.Sink = env.Pool, env.Pipeline, env.Name
			cfg.MetadataHeaders = metadataHeaders(cfg.MetadataHeaders, env)
			if o.DeliveryLog == nil || *o.DeliveryLog {
				cfg.Log = webhook.NewPostgresLog(env.Pool)
			}
			return subscriptions.NewSink(cfg, withKnownFields(env.Logger, map[string]string{"pipeline": env.Pipeline, "sink": env.Name}))
		}, components.SendHeaders())
}

// SubscriptionsConfig is the subscriptions sink's options:
// subscriptions.Config, and whether attempts are recorded in the delivery log.
type SubscriptionsConfig struct {
	subscriptions.Config `yaml:",inline"`
	// DeliveryLog records every attempt in tributary_delivery_attempts; on
	// unless set to false.
	DeliveryLog *bool `yaml:"delivery_log"`
}
