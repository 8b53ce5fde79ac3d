package subscriptions

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// sinkMetrics are the sink's collectors, labelled by pipeline and sink (and
// outcome) — never by endpoint: a sink may hold 10,000 endpoints, and a
// series per endpoint and outcome would be the registry's largest by far.
// Per-endpoint figures are rows (Store.Counts, Store.Queue, the delivery
// log), read on demand by `tributary endpoints list` and the admin API.
type sinkMetrics struct {
	queued    prometheus.Counter
	unmatched prometheus.Counter
	outcomes  *prometheus.CounterVec // by outcome
	endpoints prometheus.Gauge
	active    prometheus.Gauge
}

func newSinkMetrics(reg prometheus.Registerer, pipeline, sink string) *sinkMetrics {
	l := prometheus.Labels{"pipeline": pipeline, "sink": sink}
	return &sinkMetrics{
		queued: metrics.Counter(reg, "tributary_subscription_deliveries_queued_total",
			"Deliveries queued by the subscriptions sink's fan-out (one per matching endpoint).", "pipeline", "sink").With(l),
		unmatched: metrics.Counter(reg, "tributary_subscription_events_unmatched_total",
			"Events no enabled endpoint subscribes to.", "pipeline", "sink").With(l),
		outcomes: metrics.Counter(reg, "tributary_subscription_deliveries_total",
			"Delivery attempts by outcome (delivered, retry, poisoned, released).", "pipeline", "sink", "outcome").MustCurryWith(l),
		endpoints: metrics.Gauge(reg, "tributary_subscription_endpoints",
			"Enabled endpoints of the sink, as of its last reload.", "pipeline", "sink").With(l),
		active: metrics.Gauge(reg, "tributary_subscription_endpoints_active",
			"Endpoints with deliveries claimed or under way in this instance.", "pipeline", "sink").With(l),
	}
}
