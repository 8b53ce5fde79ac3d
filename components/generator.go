package components

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/metrics"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// The generator source emits synthetic door events with stable ids
// (<prefix>-000001, …). With a database it checkpoints the last acked
// sequence number and resumes after it; with restart: true it starts over,
// re-emitting ids the pipeline has seen, which shows dedup. It exists so that
// the binary, the quickstart and the tests run end to end before (and
// without) any provider.
func init() {
	RegisterSource("generator", "synthetic door events with stable ids (for demos and tests)",
		func(env Env, o *GeneratorOptions) (tributary.Source, error) {
			g := NewGenerator(*o, env.Name, env.Logger)
			if env.Pool != nil && !o.Restart {
				g.checkpoints = checkpoint.NewStore(env.Pool)
				g.checkpointKey = "generator:" + env.Pipeline + "/" + env.Name
			}
			return g, nil
		})
}

// GeneratorOptions configures the generator source.
type GeneratorOptions struct {
	// Count is how many events to emit; 0 means without end.
	Count int `yaml:"count"`
	// Interval is the pause between events; 1 s when zero.
	Interval time.Duration `yaml:"interval"`
	// Prefix starts every event id; the source name when empty.
	Prefix string `yaml:"prefix"`
	// Type is the event type; door.unlocked when empty.
	Type string `yaml:"type"`
	// Start is the first sequence number; 1 when zero.
	Start int `yaml:"start"`
	// Restart ignores the checkpoint and starts at Start again.
	Restart bool `yaml:"restart"`
}

// Validate implements Validator.
func (o *GeneratorOptions) Validate() error {
	if o.Count < 0 || o.Interval < 0 || o.Start < 0 {
		return errors.New("count, interval and start must not be negative")
	}
	return nil
}

// Generator is a tributary.Source of synthetic events. An event not stored
// is sent again before the next one, as the source contract asks.
type Generator struct {
	opts    GeneratorOptions
	name    string
	logger  watermill.LoggerAdapter
	metrics *metrics.Source

	checkpoints   *checkpoint.Store
	checkpointKey string
}

// NewGenerator returns a generator; name labels its metrics.
func NewGenerator(o GeneratorOptions, name string, logger watermill.LoggerAdapter) *Generator {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Prefix == "" {
		o.Prefix = name
	}
	if o.Type == "" {
		o.Type = "door.unlocked"
	}
	if o.Start == 0 {
		o.Start = 1
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Generator{opts: o, name: name, logger: logger, metrics: metrics.NewSource(nil, "", name)}
}

var (
	demoDoors = []string{"Main entrance", "Bike room", "Office 3F", "Garage", "Roof terrace"}
	demoUsers = []string{"Alva Berg", "Noah Lind", "Maja Ek", "Liam Holm", "Elsa Nyström", "Hugo Falk"}
)

// Payload returns the JSON of synthetic event seq.
func (g *Generator) Payload(seq int, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"id":        g.EventID(seq),
		"type":      g.opts.Type,
		"createdAt": at.UTC().Format(time.RFC3339Nano),
		"door":      map[string]any{"id": fmt.Sprintf("door-%d", seq%len(demoDoors)), "name": demoDoors[seq%len(demoDoors)]},
		"user":      map[string]any{"id": fmt.Sprintf("user-%d", seq%len(demoUsers)), "name": demoUsers[seq%len(demoUsers)]},
		"method":    "app",
	})
	return b
}

// EventID is the stable id of event seq.
func (g *Generator) EventID(seq int) string { return fmt.Sprintf("%s-%06d", g.opts.Prefix, seq) }

// Instrument registers the generator's source state on reg, labelled with
// the pipeline and source name (router.Instrumented); call it before
// Start.
func (g *Generator) Instrument(reg prometheus.Registerer, pipeline, source string) {
	g.metrics = metrics.NewSource(reg, pipeline, source)
}

// Start implements tributary.Source: the generator emits one event at a
// time, each again until it is stored.
func (g *Generator) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	go func() {
		g.run(ctx, emit)
		stopped(nil)
	}()
	return nil
}

func (g *Generator) run(ctx context.Context, emit tributary.Emit) {
	g.metrics.Up.Set(1)
	defer g.metrics.Up.Set(0)
	first := g.opts.Start
	if g.checkpoints != nil {
		var last int
		if ok, err := g.checkpoints.Load(ctx, g.checkpointKey, &last); err != nil {
			g.logger.Error("Generator checkpoint unreadable; starting over", err, nil)
		} else if ok && last >= first {
			first = last + 1
		}
	}
	for seq := first; g.opts.Count == 0 || seq < g.opts.Start+g.opts.Count; seq++ {
		payload := g.Payload(seq, time.Now())
		trace := NewTraceparent() // each event starts a trace; a resend keeps it
		for {
			msg := tributary.NewEventMessage(g.EventID(seq), payload)
			msg.Metadata.Set(tributary.MetaEventType, g.opts.Type)
			msg.Metadata.Set(MetaTraceparent, trace)
			msg.SetContext(ctx)
			if err := emit(ctx, msg); err != nil {
				if ctx.Err() != nil {
					return
				}
				g.logger.Info("Generator event not stored; sending it again", watermill.LogFields{"event_id": g.EventID(seq)})
				if !g.sleep(ctx, 100*time.Millisecond) {
					return
				}
				continue
			}
			g.metrics.LastSuccess.SetToCurrentTime()
			if g.checkpoints != nil {
				// Saved only once stored: a crash before it re-emits, and dedup drops the repeat.
				if err := g.checkpoints.Save(ctx, g.checkpointKey, seq); err != nil && ctx.Err() == nil {
					g.logger.Error("Saving generator checkpoint failed", err, nil)
				}
			}
			break
		}
		if !g.sleep(ctx, g.opts.Interval) {
			return
		}
	}
	// Done: stay running until stopped, like a quiet provider.
	<-ctx.Done()
}

func (g *Generator) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
