package builtin

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary/sinks/logsink"
)

// The log sink writes one JSON line per event: to stdout, stderr or a file.
func init() {
	components.RegisterSink("log", "writes each event as a JSON line to stdout, stderr or a file",
		func(env components.Env, o *logsink.Config) (message.Publisher, error) {
			return logsink.New(*o, env.Pipeline, env.Name)
		})
}
