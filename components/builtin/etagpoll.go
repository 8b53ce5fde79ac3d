package builtin

import (
	"errors"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/sources/etagpoll"
)

// The etagpoll source polls an event log with ETags. Its options are
// etagpoll.Config; unset ones keep the package's defaults (GET /eventlogs,
// ?limit=1 probe, ?startDate=…&orderBy=createdAt:DESC, 60 s interval) with
// paging detected.
func init() {
	components.RegisterSource("etagpoll", "polls an ETag event log: conditional probe, then the events since the cursor",
		func(env components.Env, cfg *etagpoll.Config) (tributary.Source, error) {
			if env.Pool == nil {
				return nil, errors.New("etagpoll: needs the database for its checkpoint")
			}
			c := *cfg
			if c.CheckpointKey == "" {
				// Per pipeline: two pipelines may name a source alike.
				c.CheckpointKey = "etagpoll/" + env.Pipeline + "/" + env.Name
			}
			c.Checkpoints = checkpoint.NewStore(env.Pool)
			src, err := etagpoll.NewSource(c, withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			if err != nil {
				return nil, err
			}
			return src, nil
		})
}
