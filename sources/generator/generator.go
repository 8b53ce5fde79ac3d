// Package generator is a source of synthetic door events with stable ids
// (<prefix>-000001, …), so that the binary, the quickstart and the tests
// run end to end before (and without) any provider. With a checkpoint store
// it resumes after the last stored event; with Restart it starts over,
// re-emitting ids the pipeline has seen, which shows dedup.
package generator

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
	"github.com/tributary-dev/tributary/tracing"
)

// Config configures the generator: the `options:` of a `generator` source.
type Config struct {
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
	// Checkpoints, when set (and Restart is not), keeps the last stored
	// sequence number under CheckpointKey, so that a restart resumes after it.
	Checkpoints   *checkpoint.Store `yaml:"-"`
	CheckpointKey string            `yaml:"-"`
}

// Validate implements Validator.
func (o *Config) Validate() error {
	if o.Count < 0 || o.Interval < 0 || o.Start < 0 {
		return errors.New("count, interval and start must not be negative")
	}
	return nil
}

// Source is a tributary.Source of synthetic events. An event not stored
// is sent again before the next one, as the source contract asks.
type Source struct {
	opts    Config
	name    string
	logger  watermill.LoggerAdapter
	metrics *metrics.Source
}

// New returns a generator; name labels its metrics.
func New(o Config, name string, logger watermill.LoggerAdapter) *Source {
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
	return &Source{opts: o, name: name, logger: logger, metrics: metrics.NewSource(nil, "", name)}
}

var (
	demoDoors = []string{"Main entrance", "Bike room", "Office 3F", "Garage", "Roof terrace"}
	demoUsers = []string{"Alva Berg", "Noah Lind", "Maja Ek", "Liam Holm", "Elsa Nyström", "Hugo Falk"}
)

// Payload returns the JSON of synthetic event seq.
func (g *Source) Payload(seq int, at time.Time) []byte {
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
func (g *Source) EventID(seq int) string { return fmt.Sprintf("%s-%06d", g.opts.Prefix, seq) }

// Instrument registers the generator's source state on reg, labelled with
// the pipeline and source name (router.Instrumented); call it before
// Start.
func (g *Source) Instrument(reg prometheus.Registerer, pipeline, source string) {
	g.metrics = metrics.NewSource(reg, pipeline, source)
}

// Start implements tributary.Source: the generator emits one event at a
// time, each again until it is stored.
func (g *Source) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	go func() {
		g.run(ctx, emit)
		stopped(nil)
	}()
	return nil
}

func (g *Source) run(ctx context.Context, emit tributary.Emit) {
	g.metrics.Up.Set(1)
	defer g.metrics.Up.Set(0)
	first := g.opts.Start
	if g.opts.Checkpoints != nil && !g.opts.Restart {
		var last int
		if ok, err := g.opts.Checkpoints.Load(ctx, g.opts.CheckpointKey, &last); err != nil {
			g.logger.Error("Generator checkpoint unreadable; starting over", err, nil)
		} else if ok && last >= first {
			first = last + 1
		}
	}
	for seq := first; g.opts.Count == 0 || seq < g.opts.Start+g.opts.Count; seq++ {
		payload := g.Payload(seq, time.Now())
		trace := tracing.Format(tracing.New()) // each event starts a trace; a resend keeps it
		for {
			msg := tributary.NewEventMessage(g.EventID(seq), payload)
			msg.Metadata.Set(tributary.MetaEventType, g.opts.Type)
			msg.Metadata.Set(tracing.MetaTraceparent, trace)
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
			if g.opts.Checkpoints != nil && !g.opts.Restart {
				// Saved only once stored: a crash before it re-emits, and dedup drops the repeat.
				if err := g.opts.Checkpoints.Save(ctx, g.opts.CheckpointKey, seq); err != nil && ctx.Err() == nil {
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

func (g *Source) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
