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
	cursor prometheus.Gauge
	// acked counts events handed on and acked (durably in the pipeline);
	// redelivered nacked messages handed on again; skipped overlap re-reads
	// of events this process already saw acked, not handed on again.
	acked, redelivered, skipped prometheus.Counter
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
		cursor: metrics.Gauge(reg, "tributary_etagpoll_cursor_timestamp_seconds",
			"Largest createdAt (server time) an ETag-poll source has acked and stored.", labels...).With(l),
		acked: metrics.Counter(reg, "tributary_etagpoll_events_acked_total",
			"Events an ETag-poll source handed on and saw acked.", labels...).With(l),
		redelivered: metrics.Counter(reg, "tributary_etagpoll_redeliveries_total",
			"Nacked messages an ETag-poll source redelivered.", labels...).With(l),
		skipped: metrics.Counter(reg, "tributary_etagpoll_rereads_skipped_total",
			"Overlap re-reads an ETag-poll source skipped because it had already seen them acked.", labels...).With(l),
		requestsVec: metrics.Counter(reg, "tributary_etagpoll_requests_total",
			"Requests made by ETag-poll sources, by step and outcome.", "pipeline", "source", "step", "outcome").MustCurryWith(l),
		requests: map[[2]string]prometheus.Counter{},
	}
}

// Instrument registers the source's collectors on reg, labelled with the
// pipeline and source name; the router calls it (router.Instrumented)
// before Subscribe. Until then the source counts for nobody.
func (s *Source) Instrument(reg prometheus.Registerer, pipeline, source string) {
	s.m = newSourceMetrics(reg, pipeline, source)
}
