package components

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/sinks/logsink"
)

// The log sink writes one JSON line per event: to stdout, stderr or a file.
func init() {
	RegisterSink("log", "writes each event as a JSON line to stdout, stderr or a file",
		func(env Env, o *logsink.Config) (message.Publisher, error) {
			return logsink.New(*o, env.Pipeline, env.Name)
		})
}
