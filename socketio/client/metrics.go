package client

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// connectionState is the client's State as a number (see State).
	connectionState = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_socketio_connection_state",
		Help: "Socket.IO client state: 0 idle, 1 connecting, 2 connected, 3 reconnecting (backing off), 4 closed.",
	}, []string{"source"})
	reconnects = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_socketio_reconnects_total", Help: "Socket.IO connections lost and retried.",
	}, []string{"source"})
	tokenRenewals = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_socketio_token_renewals_total", Help: "Tokens fetched from the token provider, by reason.",
	}, []string{"source", "reason"})
	eventsReceived = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_socketio_events_total", Help: "Socket.IO events received.",
	}, []string{"source"})
)
