package webhookin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// sourceMetrics are the collectors of one source of one pipeline.
type sourceMetrics struct {
	*metrics.Source
	requests *prometheus.CounterVec // by answer code
}

func newSourceMetrics(reg prometheus.Registerer, pipeline, source string) *sourceMetrics {
	return &sourceMetrics{
		Source: metrics.NewSource(reg, pipeline, source),
		requests: metrics.Counter(reg, "tributary_webhookin_requests_total", "Inbound webhook requests by answer.",
			"pipeline", "source", "code").MustCurryWith(prometheus.Labels{"pipeline": pipeline, "source": source}),
	}
}

// Instrument registers the source's collectors on reg, labelled with the
// pipeline and source name; the router calls it (router.Instrumented).
// Until then the source counts for nobody.
func (s *Source) Instrument(reg prometheus.Registerer, pipeline, source string) {
	s.metrics.Store(newSourceMetrics(reg, pipeline, source))
}
