package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// SourceMonitor notices a source that stops for good, whatever its type: its
// Subscribe channel closes while the process runs on (neither Close nor the
// end of the run's context closed it). The batch feed does that on a 404 for
// its feed id; any source whose loop returns does. A failed source is
// reported in /readyz (Check), as tributary_source_up 0 and on the admin
// page, with the reason the source gives: Err() of the source or of what it
// wraps (Unwrap), else that its channel closed. Failed lets `run
// --fail-fast` exit instead.
type SourceMonitor struct {
	logger  watermill.LoggerAdapter
	metrics prometheus.Registerer

	mu     sync.Mutex
	failed map[string]SourceFailure // by pipeline/source

	first     chan struct{}
	firstOnce sync.Once
}

// SourceFailure is a source that stopped for good.
type SourceFailure struct {
	Pipeline string    `json:"pipeline"`
	Source   string    `json:"source"`
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// NewSourceMonitor returns a monitor with no sources watched yet. reg is
// where the router registers the sources' state (router.Config.Metrics), so
// that a failed source shows as tributary_source_up 0 there; nil: nowhere.
func NewSourceMonitor(reg prometheus.Registerer, logger watermill.LoggerAdapter) *SourceMonitor {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &SourceMonitor{logger: logger, metrics: reg, failed: map[string]SourceFailure{}, first: make(chan struct{})}
}

// Watch returns sub wrapped so that the monitor sees it stop. Pass the
// wrapper to the router in sub's place.
func (m *SourceMonitor) Watch(pipeline, name, typ string, sub message.Subscriber) message.Subscriber {
	return &watchedSource{Subscriber: sub, m: m, pipeline: pipeline, name: name, typ: typ}
}

// Failed is closed when the first source fails.
func (m *SourceMonitor) Failed() <-chan struct{} { return m.first }

// Failures lists the failed sources, oldest first.
func (m *SourceMonitor) Failures() []SourceFailure {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SourceFailure, 0, len(m.failed))
	for _, f := range m.failed {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Failure returns the failure of one source, if it failed.
func (m *SourceMonitor) Failure(pipeline, source string) (SourceFailure, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failed[pipeline+"/"+source]
	return f, ok
}

// Checks returns one readiness check per source of the pipelines, named
// "source <pipeline>/<source>", failing with the reason once it stopped.
func (m *SourceMonitor) Checks(pipelines []PipelineInfo) []Check {
	var out []Check
	for _, p := range pipelines {
		for _, s := range p.Sources {
			out = append(out, Check{Name: "source " + p.Name + "/" + s.Name, Check: func(context.Context) error {
				if f, ok := m.Failure(p.Name, s.Name); ok {
					return fmt.Errorf("failed: %s", f.Reason)
				}
				return nil
			}})
		}
	}
	return out
}

func (m *SourceMonitor) fail(f SourceFailure) {
	m.mu.Lock()
	m.failed[f.Pipeline+"/"+f.Source] = f
	m.mu.Unlock()
	metrics.NewSource(m.metrics, f.Pipeline, f.Source).Up.Set(0)
	m.logger.Error("Source stopped for good; the rest of the process runs on (readyz reports it; run --fail-fast exits instead)",
		errors.New(f.Reason), watermill.LogFields{"pipeline": f.Pipeline, "source": f.Source, "type": f.Type})
	m.firstOnce.Do(func() { close(m.first) })
}

// watchedSource forwards a source's messages and reports the source failed
// when its channel closes on its own.
type watchedSource struct {
	message.Subscriber
	m                   *SourceMonitor
	pipeline, name, typ string
	closing             atomic.Bool
}

// Unwrap returns the source itself.
func (w *watchedSource) Unwrap() message.Subscriber { return w.Subscriber }

func (w *watchedSource) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := w.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			select {
			case out <- msg:
			case <-ctx.Done():
				msg.Nack() // not handed over: the source keeps it
			}
		}
		// Close sets closing before it closes the source, so a channel
		// closed by Close or by the end of ctx is never taken for a failure.
		if ctx.Err() != nil || w.closing.Load() {
			return
		}
		w.m.fail(SourceFailure{Pipeline: w.pipeline, Source: w.name, Type: w.typ, Reason: reason(w.Subscriber), At: time.Now()})
	}()
	return out, nil
}

func (w *watchedSource) Close() error {
	w.closing.Store(true)
	return w.Subscriber.Close()
}

// reason asks the source, or what it wraps, why it stopped.
func reason(s message.Subscriber) string {
	for s != nil {
		if e, ok := s.(interface{ Err() error }); ok {
			if err := e.Err(); err != nil {
				return err.Error()
			}
		}
		u, ok := s.(interface{ Unwrap() message.Subscriber })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	return "its message channel closed while the process runs (the source gave no reason)"
}
