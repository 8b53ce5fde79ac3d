package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Collectors of the webhook sink, labelled by endpoint name only (never by
// URL, which may carry a secret).
var (
	attemptsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_webhook_attempts_total", Help: "Webhook delivery attempts by outcome.",
	}, []string{"endpoint", "outcome"})
	circuitOpen = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_webhook_circuit_open", Help: "1 while the endpoint's circuit breaker is open or half-open.",
	}, []string{"endpoint"})
	endpointDisabled = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_webhook_endpoint_disabled", Help: "1 once the endpoint answered 410 Gone, until re-enabled.",
	}, []string{"endpoint"})
)
