package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// sinkMetrics are the collectors of one endpoint, labelled by pipeline and
// sink name (never by URL, which may carry a secret).
type sinkMetrics struct {
	attempts *prometheus.CounterVec // by outcome
	open     prometheus.Gauge
	disabled prometheus.Gauge
}

func newSinkMetrics(reg prometheus.Registerer, pipeline, sink string) *sinkMetrics {
	l := prometheus.Labels{"pipeline": pipeline, "sink": sink}
	return &sinkMetrics{
		attempts: metrics.Counter(reg, "tributary_webhook_attempts_total", "Webhook delivery attempts by outcome.",
			"pipeline", "sink", "outcome").MustCurryWith(l),
		open: metrics.Gauge(reg, "tributary_webhook_circuit_open", "1 while the endpoint's circuit breaker is open or half-open.",
			"pipeline", "sink").With(l),
		disabled: metrics.Gauge(reg, "tributary_webhook_endpoint_disabled", "1 once the endpoint answered 410 Gone, until re-enabled.",
			"pipeline", "sink").With(l),
	}
}

// Instrument registers the endpoint's collectors on reg, labelled with the
// pipeline and sink name; the router calls it (router.Instrumented). Until
// then the publisher counts for nobody. Call it before the first Publish.
func (p *Publisher) Instrument(reg prometheus.Registerer, pipeline, sink string) {
	p.metrics.Store(newSinkMetrics(reg, pipeline, sink))
}
