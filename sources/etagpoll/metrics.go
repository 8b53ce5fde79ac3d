package etagpoll

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// requestsTotal counts requests to the event-log API by step (probe or
	// fetch) and outcome (the status code, or error).
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_etagpoll_requests_total", Help: "Requests made by ETag-poll sources, by step and outcome.",
	}, []string{"source", "step", "outcome"})
	// eventsAcked counts events handed on and acked (durably in the pipeline).
	eventsAcked = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_etagpoll_events_acked_total", Help: "Events an ETag-poll source handed on and saw acked.",
	}, []string{"source"})
	// redeliveries counts nacked messages handed on again.
	redeliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_etagpoll_redeliveries_total", Help: "Nacked messages an ETag-poll source redelivered.",
	}, []string{"source"})
	// rereadsSkipped counts overlap re-reads of events this process already
	// saw acked, which are therefore not handed on again.
	rereadsSkipped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_etagpoll_rereads_skipped_total", Help: "Overlap re-reads an ETag-poll source skipped because it had already seen them acked.",
	}, []string{"source"})
	// cursorSeconds is the stored cursor: the largest createdAt acked.
	cursorSeconds = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_etagpoll_cursor_timestamp_seconds", Help: "Largest createdAt (server time) an ETag-poll source has acked and stored.",
	}, []string{"source"})
)
