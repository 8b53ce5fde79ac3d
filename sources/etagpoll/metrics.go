package etagpoll

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// sourceMetrics are the collectors of one source of one pipeline.
type sourceMetrics struct {
	*metrics.Source
	// cursor is the stored cursor: the largest createdAt acked.
	cursor *lazy[prometheus.Gauge]
	// acked counts events handed on and acked (durably in the pipeline);
	// redelivered nacked messages handed on again; skipped overlap re-reads
	// of events this process already saw acked, not handed on again.
	acked, redelivered, skipped *lazy[prometheus.Counter]
	// requestsVec counts requests to the event-log API by step (probe or
	// fetch) and outcome (the status code, or error); requests caches its
	// children.
	requestsVec *prometheus.CounterVec
	requests    map[[2]string]prometheus.Counter
	mu          sync.Mutex
}

func newSourceMetrics(reg prometheus.Registerer, pipeline, source string) *sourceMetrics {
	l := prometheus.Labels{"pipeline": pipeline, "source": source}
	labels := []string{"pipeline", "source"}
	return &sourceMetrics{
		Source: metrics.NewSource(reg, pipeline, source),
		cursor: newLazy(metrics.Gauge(reg, "tributary_etagpoll_cursor_timestamp_seconds",
			"Largest createdAt (server time) an ETag-poll source has acked and stored.", labels...).With, l),
		acked: newLazy(metrics.Counter(reg, "tributary_etagpoll_events_acked_total",
			"Events an ETag-poll source handed on and saw acked.", labels...).With, l),
		redelivered: newLazy(metrics.Counter(reg, "tributary_etagpoll_redeliveries_total",
			"Nacked messages an ETag-poll source redelivered.", labels...).With, l),
		skipped: newLazy(metrics.Counter(reg, "tributary_etagpoll_rereads_skipped_total",
			"Overlap re-reads an ETag-poll source skipped because it had already seen them acked.", labels...).With, l),
		requestsVec: metrics.Counter(reg, "tributary_etagpoll_requests_total",
			"Requests made by ETag-poll sources, by step and outcome.", "pipeline", "source", "step", "outcome").MustCurryWith(l),
		requests: map[[2]string]prometheus.Counter{},
	}
}

// lazy is a series created on its first use: a source that has had
// nothing to count holds no series for it (a series costs about half a
// kilobyte, and a thousand idle sources would hold four thousand of them).
type lazy[M any] struct {
	with   func(prometheus.Labels) M
	labels prometheus.Labels
	once   sync.Once
	m      M
}

func newLazy[M any](with func(prometheus.Labels) M, labels prometheus.Labels) *lazy[M] {
	return &lazy[M]{with: with, labels: labels}
}

// get returns the series, creating it the first time.
func (l *lazy[M]) get() M {
	l.once.Do(func() { l.m = l.with(l.labels) })
	return l.m
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
