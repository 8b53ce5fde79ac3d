package batchfeed

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Collectors of this package, by source name (Config.Name). Errors go to the
// shared tributary_source_errors_total with a kind.
var (
	batchesCompleted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_batches_completed_total",
		Help: "Batches completed after all their notifications were stored.",
	}, []string{"source"})
	notificationsStored = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_notifications_acked_total",
		Help: "Notifications acked by the pipeline (stored or deduplicated).",
	}, []string{"source"})
	nacks = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_nacks_total",
		Help: "Notifications the pipeline failed to store; they are redelivered.",
	}, []string{"source"})
	completeRetries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_complete_retries_total",
		Help: "Failed complete calls that were retried.",
	}, []string{"source"})
	completeGone = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_complete_not_found_total",
		Help: "Batches found completed already: 404 on complete, or no longer served after a failed complete.",
	}, []string{"source"})
	discards = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_batchfeed_discard_all_total",
		Help: "discardAll operations run, by outcome.",
	}, []string{"source", "outcome"})
)
