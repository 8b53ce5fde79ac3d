package webhookin

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var requests = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "tributary_webhookin_requests_total", Help: "Inbound webhook requests by answer.",
}, []string{"source", "code"})
