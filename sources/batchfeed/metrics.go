package batchfeed

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// feedMetrics are the collectors of one source of one pipeline. Errors go
// to the shared tributary_source_errors_total with a kind.
type feedMetrics struct {
	*metrics.Source
	batchesCompleted, notificationsStored, nacks prometheus.Counter
	completeRetries, completeGone                prometheus.Counter
	discards                                     *prometheus.CounterVec // by outcome
}

func newFeedMetrics(reg prometheus.Registerer, pipeline, source string) *feedMetrics {
	l := prometheus.Labels{"pipeline": pipeline, "source": source}
	c := func(name, help string) prometheus.Counter {
		return metrics.Counter(reg, name, help, "pipeline", "source").With(l)
	}
	return &feedMetrics{
		Source:              metrics.NewSource(reg, pipeline, source),
		batchesCompleted:    c("tributary_batchfeed_batches_completed_total", "Batches completed after all their notifications were stored."),
		notificationsStored: c("tributary_batchfeed_notifications_acked_total", "Notifications acked by the pipeline (stored or deduplicated)."),
		nacks:               c("tributary_batchfeed_nacks_total", "Notifications the pipeline failed to store; they are redelivered."),
		completeRetries:     c("tributary_batchfeed_complete_retries_total", "Failed complete calls that were retried."),
		completeGone: c("tributary_batchfeed_complete_not_found_total",
			"Batches found completed already: 404 on complete, or no longer served after a failed complete."),
		discards: metrics.Counter(reg, "tributary_batchfeed_discard_all_total", "discardAll operations run, by outcome.",
			"pipeline", "source", "outcome").MustCurryWith(l),
	}
}

// Instrument registers the source's collectors on reg, labelled with the
// pipeline and source name; the router calls it (router.Instrumented).
// Until then the source counts for nobody.
func (s *Source) Instrument(reg prometheus.Registerer, pipeline, source string) {
	s.client.metrics.Store(newFeedMetrics(reg, pipeline, source))
}
