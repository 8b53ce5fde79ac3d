package socketio

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The connection's own series are socketio/client's.
var pendingEvents = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "tributary_socketio_pending_events", Help: "Events held in memory until the pipeline acks them.",
}, []string{"source"})
