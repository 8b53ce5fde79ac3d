package client

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/metrics"
)

// clientMetrics are the collectors of one connection, labelled by the
// pipeline and source it serves.
type clientMetrics struct {
	*metrics.Source
	// state is the client's State as a number (see State).
	state          prometheus.Gauge
	reconnects     prometheus.Counter
	tokenRenewals  *prometheus.CounterVec // by reason
	eventsReceived prometheus.Counter
}

func newClientMetrics(reg prometheus.Registerer, pipeline, source string) *clientMetrics {
	l := prometheus.Labels{"pipeline": pipeline, "source": source}
	labels := []string{"pipeline", "source"}
	return &clientMetrics{
		Source: metrics.NewSource(reg, pipeline, source),
		state: metrics.Gauge(reg, "tributary_socketio_connection_state",
			"Socket.IO client state: 0 idle, 1 connecting, 2 connected, 3 reconnecting (backing off), 4 closed.", labels...).With(l),
		reconnects: metrics.Counter(reg, "tributary_socketio_reconnects_total", "Socket.IO connections lost and retried.", labels...).With(l),
		tokenRenewals: metrics.Counter(reg, "tributary_socketio_token_renewals_total", "Tokens fetched from the token provider, by reason.",
			"pipeline", "source", "reason").MustCurryWith(l),
		eventsReceived: metrics.Counter(reg, "tributary_socketio_events_total", "Socket.IO events received.", labels...).With(l),
	}
}

// Instrument registers the client's collectors on reg, labelled with the
// pipeline and source it serves. Until then it counts for nobody.
func (c *Client) Instrument(reg prometheus.Registerer, pipeline, source string) {
	m := newClientMetrics(reg, pipeline, source)
	m.state.Set(float64(c.Status().State))
	c.metrics.Store(m)
}
