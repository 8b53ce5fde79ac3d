package socketio

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// Instrument registers the source's pending gauge, and its client's
// collectors, on reg (router.Instrumented). source also names the source
// (and its client) in log lines.
func (s *Subscriber) Instrument(reg prometheus.Registerer, pipeline, source string) {
	s.logger.SetName(source)
	s.client.Instrument(reg, pipeline, source)
	g := metrics.Gauge(reg, "tributary_socketio_pending_events", "Events held in memory until the pipeline acks them.",
		"pipeline", "source").WithLabelValues(pipeline, source)
	g.Set(float64(s.pending.len()))
	s.pendingGauge.Store(&g)
}

// pending holds events from the socket until the pipeline acks them. A socket
// cannot replay what it has sent, so this memory is the only copy: a nacked
// message is redelivered from here, and a process that dies loses what is
// still pending (see the package doc).
type pending struct {
	mu       sync.Mutex
	queue    []*message.Message // waiting to be handed out; nacked ones go first
	inflight int
	max      int
	changed  chan struct{} // a message was queued or returned
	space    chan struct{} // a message was acked
	gauge    func(float64)
}

func newPending(max int, gauge func(float64)) *pending {
	return &pending{max: max, changed: make(chan struct{}, 1), space: make(chan struct{}, 1), gauge: gauge}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// put queues msg, blocking while max messages are pending (backpressure on
// the socket) until there is room, ctx ends or closed is closed.
func (p *pending) put(ctx context.Context, closed <-chan struct{}, msg *message.Message) error {
	for {
		p.mu.Lock()
		if len(p.queue)+p.inflight < p.max {
			p.queue = append(p.queue, msg)
			p.report()
			p.mu.Unlock()
			signal(p.changed)
			return nil
		}
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return errors.New("closed")
		}
	}
}

// take hands out the next message if fewer than limit are in flight.
func (p *pending) take(limit int) (*message.Message, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight >= limit || len(p.queue) == 0 {
		return nil, false
	}
	msg := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.inflight++
	return msg, true
}

// done retires an acked message.
func (p *pending) done() {
	p.mu.Lock()
	p.inflight--
	p.report()
	p.mu.Unlock()
	signal(p.space)
	signal(p.changed)
}

// requeue puts a nacked (or abandoned) message back at the front.
func (p *pending) requeue(msg *message.Message) {
	p.mu.Lock()
	p.inflight--
	p.queue = append([]*message.Message{msg}, p.queue...)
	p.mu.Unlock()
	signal(p.changed)
}

// len is the number of messages not yet acked.
func (p *pending) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) + p.inflight
}

func (p *pending) report() { p.gauge(float64(len(p.queue) + p.inflight)) }
