package builtin

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary/sinks/httpsink"
)

// The http sink POSTs each event's payload to a URL and records every attempt
// in the delivery log. It is deliberately plain (no signatures, no endpoint
// state): the webhook sink is for real use.
func init() {
	components.RegisterSink("http", "POSTs each event as JSON to a URL (plain; use the webhook sink for signed delivery)",
		func(env components.Env, o *httpsink.Config) (message.Publisher, error) {
			s := httpsink.New(*o, env.Pipeline, env.Name, env.Pool, env.Logger)
			s.MetadataHeaders = env.MetadataHeaders
			return s, nil
		}, components.SendHeaders())
}
