// Command customsource is the tributary command line with one more source
// type, "countdown", registered by this program: what a user's own main looks
// like when it adds a source (or sink) type to the binary without forking it.
//
// It is a module of its own, outside tributary's, as a user's would be:
//
//	cd examples/customsource
//	DATABASE_URL=postgres://… go run . migrate
//	DATABASE_URL=postgres://… go run . run -c pipeline.yaml
//
// Every command of the stock binary works (validate, route, types, …), and
// `types` lists countdown beside the built-in types.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/cli"
	"github.com/tributary-dev/tributary/components"
)

// Config is the countdown source's options: the pipeline file's `options:`
// block decodes into it (strictly: an unknown key is an error), so an option
// is added here and nowhere else.
type Config struct {
	// From is the first number counted down from; the source emits From
	// events, From … 1, then waits.
	From int `yaml:"from"`
	// Interval is the pause between events; 100ms when zero. Durations are
	// written as strings such as 250ms or 1m.
	Interval time.Duration `yaml:"interval"`
	// Label is put in every event's payload.
	Label string `yaml:"label"`
}

// Validate names the key of every problem (tributary.Option), so that
// `validate` points at that key's line and column in the file.
func (c *Config) Validate() error {
	var errs []error
	if c.From <= 0 {
		errs = append(errs, tributary.Option("from", "%d: want a positive number", c.From))
	}
	if c.Interval < 0 {
		errs = append(errs, tributary.Option("interval", "must not be negative"))
	}
	return errors.Join(errs...)
}

func init() {
	// The type's name in files, a line for `tributary types`, and how to
	// build it from its decoded, validated Config and the component's
	// environment (its name in the pipeline, the database, a logger).
	components.RegisterSource("countdown", "counts down from a number (an example of a user's own source type)",
		func(env components.Env, cfg *Config) (tributary.Source, error) {
			c := *cfg
			if c.Interval == 0 {
				c.Interval = 100 * time.Millisecond
			}
			return countdown(env.Name, c), nil
		})
}

func main() { cli.Main() }

// countdown hands on From events, From … 1, each once the one before is
// stored (emit returned nil), then stays running until stopped.
func countdown(name string, cfg Config) tributary.SourceFunc {
	return func(ctx context.Context, emit tributary.Emit) error {
		for n := cfg.From; n > 0; {
			// A stable id per event: a re-read after a restart is deduplicated.
			id := fmt.Sprintf("%s-%d", name, n)
			payload, _ := json.Marshal(map[string]any{"id": id, "n": n, "label": cfg.Label})
			msg := tributary.NewEventMessage(id, payload)
			msg.Metadata.Set(tributary.MetaEventType, "countdown.tick")
			if emit(ctx, msg) == nil { // stored: on to the next; else the same again
				n--
			}
			select {
			case <-time.After(cfg.Interval):
			case <-ctx.Done():
				return nil
			}
		}
		<-ctx.Done() // counted down: stay running, like a quiet provider
		return nil
	}
}
