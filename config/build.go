package config

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/router"
)

// Build builds every source and sink and returns the pipelines ready for
// router.New. On error, what was built is closed.
func (c *Config) Build(pool *pgxpool.Pool, logger watermill.LoggerAdapter) ([]router.Pipeline, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	var out []router.Pipeline
	for _, p := range c.Pipelines {
		rp := p.Template
		rp.Sources = append([]router.Source(nil), p.Template.Sources...)
		rp.Sinks = append([]router.Sink(nil), p.Template.Sinks...)
		out = append(out, rp)
		cur := &out[len(out)-1]
		for i := range cur.Sources {
			src, err := components.BuildSource(p.SourceTypes[i], c.env(p, components.KindSource, i, pool, logger))
			if err != nil {
				closeSinks(out)
				return nil, fmt.Errorf("pipeline %q: source %q (%s): %w", p.Template.Name, cur.Sources[i].Name, p.SourceTypes[i].Type, err)
			}
			cur.Sources[i].Source = src
			// A type that receives rather than reads (inbound webhooks, a
			// broker's shared queue) runs in every instance; the others in
			// the one leading them (router.Leadership).
			cur.Sources[i].EveryInstance = components.RunsOnEveryInstance(p.SourceTypes[i].Type)
		}
		for i := range cur.Sinks {
			pub, err := components.BuildSink(p.SinkTypes[i], c.env(p, components.KindSink, i, pool, logger))
			if err != nil {
				closeSinks(out)
				return nil, fmt.Errorf("pipeline %q: sink %q (%s): %w", p.Template.Name, cur.Sinks[i].Name, p.SinkTypes[i].Type, err)
			}
			cur.Sinks[i].Publisher = pub
		}
	}
	return out, nil
}

func closeSinks(pipelines []router.Pipeline) {
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			if s.Publisher != nil {
				_ = s.Publisher.Close()
			}
		}
	}
}

// env is the Env of source or sink i of p.
func (c *Config) env(p Pipeline, kind components.Kind, i int, pool *pgxpool.Pool, logger watermill.LoggerAdapter) components.Env {
	env := components.Env{Pipeline: p.Template.Name, Pool: pool}
	if kind == components.KindSource {
		env.Name, env.Type = p.Template.Sources[i].Name, p.SourceTypes[i].Type
	} else {
		env.Name, env.Type = p.Template.Sinks[i].Name, p.SinkTypes[i].Type
		if i < len(p.SinkHeaders) {
			env.MetadataHeaders = p.SinkHeaders[i]
		}
	}
	env.Logger = logger.With(watermill.LogFields{"pipeline": p.Template.Name, string(kind): env.Name, "type": env.Type})
	return env
}

// ErrNoSuchComponent is returned by Find for an unknown pipeline or component.
var ErrNoSuchComponent = errors.New("no such pipeline or component")

// FindSink returns the decoded sink `name` of pipeline `pipeline`.
func (c *Config) FindSink(pipeline, name string) (Pipeline, int, error) {
	return c.find(pipeline, "sink", name, func(p Pipeline) int {
		return slices.IndexFunc(p.Template.Sinks, func(s router.Sink) bool { return s.Name == name })
	})
}

// FindSource returns the decoded source `name` of pipeline `pipeline`.
func (c *Config) FindSource(pipeline, name string) (Pipeline, int, error) {
	return c.find(pipeline, "source", name, func(p Pipeline) int {
		return slices.IndexFunc(p.Template.Sources, func(s router.Source) bool { return s.Name == name })
	})
}

// find returns the first pipeline named pipeline in which index finds the
// component, and its index.
func (c *Config) find(pipeline, kind, name string, index func(Pipeline) int) (Pipeline, int, error) {
	for _, p := range c.Pipelines {
		if p.Template.Name != pipeline {
			continue
		}
		if i := index(p); i >= 0 {
			return p, i, nil
		}
	}
	return Pipeline{}, 0, fmt.Errorf("%s %q of pipeline %q: %w", kind, name, pipeline, ErrNoSuchComponent)
}

// BuildSink builds only sink i of p (for operator commands such as webhook test).
func (c *Config) BuildSink(p Pipeline, i int, pool *pgxpool.Pool, logger watermill.LoggerAdapter) (any, error) {
	return components.BuildSink(p.SinkTypes[i], c.env(p, components.KindSink, i, pool, logger))
}

// BuildSource builds only source i of p (for operator commands such as feed discard).
func (c *Config) BuildSource(p Pipeline, i int, pool *pgxpool.Pool, logger watermill.LoggerAdapter) (any, error) {
	return components.BuildSource(p.SourceTypes[i], c.env(p, components.KindSource, i, pool, logger))
}

// NewBackend returns the router backend the file asks for, on pool.
func (c *Config) NewBackend(pool *pgxpool.Pool) router.Backend { return c.Backend.New(pool) }

// PoisonQueue returns the poison queue of the file's pipelines: replay goes
// back through the file's backend.
func (c *Config) PoisonQueue(pool *pgxpool.Pool) *router.PoisonQueue {
	if b, ok := c.NewBackend(pool).(*router.JetStreamBackend); ok {
		return b.PoisonQueue()
	}
	return router.NewPoisonQueue(pool)
}

// IngestQuarantine returns the ingest quarantine of the file's pipelines:
// replay stores into the file's backend.
func (c *Config) IngestQuarantine(pool *pgxpool.Pool) *router.IngestQuarantine {
	if b, ok := c.NewBackend(pool).(*router.JetStreamBackend); ok {
		return b.IngestQuarantine()
	}
	return router.NewIngestQuarantine(pool)
}

// NewRouter builds every source and sink and returns a router that runs
// the file's pipelines as the binary does: on the file's backend, with
// Leadership among the instances sharing pool (unless rc sets them), a trace
// started for every event whose source sent none, and a source that stops
// for good recorded (Router.SourceFailures). On error, what was built is
// closed.
func (c *Config) NewRouter(pool *pgxpool.Pool, rc router.Config) (*router.Router, error) {
	pipelines, err := c.Build(pool, rc.Logger)
	if err != nil {
		return nil, err
	}
	if rc.Backend == nil {
		rc.Backend = c.NewBackend(pool)
	}
	if rc.Leadership == nil {
		rc.Leadership = &router.Leadership{}
	}
	r, err := router.New(rc, pipelines...)
	if err != nil {
		closeSinks(pipelines)
		return nil, err
	}
	return r, nil
}
