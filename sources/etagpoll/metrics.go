package etagpoll

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// sourceMetrics are the collectors of one source of one pipeline. Each
// series is created on its first use: a source that has had nothing to count
// holds no series for it (a series costs about half a kilobyte, and a
// thousand idle sources would hold thousands of them). The vectors are
// shared; a source keeps only its label values and the series it made.
type sourceMetrics struct {
	*metrics.Source
	v                *etagVecs
	pipeline, source string

	mu sync.Mutex
	// cursor is the stored cursor: the largest createdAt acked.
	cursor prometheus.Gauge
	// acked counts events handed on and acked (durably in the pipeline);
	// redelivered nacked messages handed on again; skipped overlap re-reads
	// of events this process already saw acked, not handed on again.
	acked, redelivered, skipped prometheus.Counter
	// requests counts requests to the event-log API by step (probe or
	// fetch) and outcome (the status code, or error).
	requests []request
}

type request struct {
	step, outcome string
	c             prometheus.Counter
}

type etagVecs struct {
	cursor                                *prometheus.GaugeVec
	acked, redelivered, skipped, requests *prometheus.CounterVec
}

func newSourceMetrics(reg prometheus.Registerer, pipeline, source string) *sourceMetrics {
	labels := []string{"pipeline", "source"}
	return &sourceMetrics{
		Source:   metrics.NewSource(reg, pipeline, source),
		pipeline: pipeline, source: source,
		v: &etagVecs{
			cursor: metrics.Gauge(reg, "tributary_etagpoll_cursor_timestamp_seconds",
				"Largest createdAt (server time) an ETag-poll source has acked and stored.", labels...),
			acked: metrics.Counter(reg, "tributary_etagpoll_events_acked_total",
				"Events an ETag-poll source handed on and saw acked.", labels...),
			redelivered: metrics.Counter(reg, "tributary_etagpoll_redeliveries_total",
				"Nacked messages an ETag-poll source redelivered.", labels...),
			skipped: metrics.Counter(reg, "tributary_etagpoll_rereads_skipped_total",
				"Overlap re-reads an ETag-poll source skipped because it had already seen them acked.", labels...),
			requests: metrics.Counter(reg, "tributary_etagpoll_requests_total",
				"Requests made by ETag-poll sources, by step and outcome.", "pipeline", "source", "step", "outcome"),
		},
	}
}

// counter returns *c, creating it from vec the first time.
func (m *sourceMetrics) counter(c *prometheus.Counter, vec *prometheus.CounterVec) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if *c == nil {
		*c = vec.WithLabelValues(m.pipeline, m.source)
	}
	return *c
}

// setCursor sets the cursor gauge, creating it the first time.
func (m *sourceMetrics) setCursor(v float64) {
	m.mu.Lock()
	if m.cursor == nil {
		m.cursor = m.v.cursor.WithLabelValues(m.pipeline, m.source)
	}
	g := m.cursor
	m.mu.Unlock()
	g.Set(v)
}

// request counts one request of step with outcome.
func (m *sourceMetrics) request(step, outcome string) {
	m.mu.Lock()
	i := slices.IndexFunc(m.requests, func(r request) bool { return r.step == step && r.outcome == outcome })
	if i < 0 {
		i = len(m.requests)
		m.requests = append(m.requests, request{step, outcome, m.v.requests.WithLabelValues(m.pipeline, m.source, step, outcome)})
	}
	c := m.requests[i].c
	m.mu.Unlock()
	c.Inc()
}

// Instrument registers the source's collectors on reg, labelled with the
// pipeline and source name; the router calls it (router.Instrumented)
// before Subscribe. Until then the source counts for nobody. The name is
// also the source's in its log lines, its messages' tributary_source and
// its default checkpoint key: it is given once, in the pipeline.
func (s *Source) Instrument(reg prometheus.Registerer, pipeline, source string) {
	s.m = newSourceMetrics(reg, pipeline, source)
	s.named.SetName(source)
}
