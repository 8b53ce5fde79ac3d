package builtin

import (
	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/sources/generator"
)

// The generator source emits synthetic door events with stable ids
// (<prefix>-000001, …). With a database it checkpoints the last acked
// sequence number and resumes after it; with restart: true it starts over,
// re-emitting ids the pipeline has seen, which shows dedup. It exists so that
// the binary, the quickstart and the tests run end to end before (and
// without) any provider.
func init() {
	components.RegisterSource("generator", "synthetic door events with stable ids (for demos and tests)",
		func(env components.Env, o *generator.Config) (tributary.Source, error) {
			c := *o
			if env.Pool != nil && !c.Restart {
				c.Checkpoints = checkpoint.NewStore(env.Pool)
				c.CheckpointKey = "generator:" + env.Pipeline + "/" + env.Name
			}
			return generator.New(c, env.Name, env.Logger), nil
		})
}
