package builtin

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// The socketio source reads a Socket.IO 2.x stream, or a plain WebSocket of
// JSON events (mode: json), and emits every event, or those its topic filter
// keeps, as a message. Its options are socketio.Config, the connection's
// keys (socketio.ClientConfig) inline. A Subscriber closed cannot connect
// again: each start (leadership come back) builds a new one.
func init() {
	components.RegisterSource("socketio", "events of a Socket.IO 2.x stream or a JSON WebSocket, with token renewal",
		func(env components.Env, cfg *socketio.Config) (tributary.Source, error) {
			// The client names its source in its lines (the router gives the
			// name); components.Env.Logger has it already.
			return components.FromSubscriber(func() (message.Subscriber, error) {
				return socketio.NewSubscriber(*cfg, withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			})
		})
}
