package builtin

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
)

// The socketcommand sink sends each message as a Socket.IO `command` and
// acks it once the server confirms with command.result.succeed. It always
// opens a connection of its own: a socketio source sharing it would stop
// reading the socket under backpressure and so delay (and time out) command
// results, and sinks and sources may live in different pipelines.
func init() {
	components.RegisterSink("socketcommand", "sends access-control commands over Socket.IO and waits for their result",
		func(env components.Env, o *SocketCommandConfig) (message.Publisher, error) {
			cfg := o.Config
			if env.Pool != nil && (o.DeliveryLog == nil || *o.DeliveryLog) {
				cfg.Log = deliverylog.NewPostgres(env.Pool)
			}
			p, err := socketcommand.NewPublisher(cfg, env.Logger)
			if err != nil {
				return nil, err
			}
			return namedPublisher{Publisher: p, name: env.Name}, nil
		})
}

// namedPublisher publishes under the sink's name in the file (which names it
// in command ids and the delivery log), whatever topic its `topic:` sets.
type namedPublisher struct {
	message.Publisher
	name string
}

func (p namedPublisher) Publish(_ string, msgs ...*message.Message) error {
	return p.Publisher.Publish(p.name, msgs...)
}

// SocketCommandConfig is the socketcommand sink's options:
// socketcommand.Config, and whether the binary records attempts in its
// database.
type SocketCommandConfig struct {
	socketcommand.Config `yaml:",inline"`
	// DeliveryLog records every attempt in tributary_delivery_attempts; on
	// unless set to false.
	DeliveryLog *bool `yaml:"delivery_log"`
}
