// Package metrics defines Tributary's Prometheus collectors, registered once
// on the default registry so every router, source and sink in a process
// reports into the same /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// EventsReceived counts messages a source handed to the ingest path.
	EventsReceived = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_received_total", Help: "Events read from a source.",
	}, []string{"pipeline", "source"})
	// EventsIngested counts events stored durably in a pipeline's topic.
	EventsIngested = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_ingested_total", Help: "Events stored in the pipeline topic.",
	}, []string{"pipeline", "source"})
	// EventsDeduped counts duplicates dropped on the ingest path.
	EventsDeduped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_deduped_total", Help: "Duplicate events dropped on ingest.",
	}, []string{"pipeline", "source"})
	// IngestFailed counts ingest attempts that failed (the source redelivers).
	IngestFailed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_ingest_failed_total", Help: "Ingest attempts that failed.",
	}, []string{"pipeline", "source"})
	// Delivered counts successful deliveries to a sink.
	Delivered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_delivered_total", Help: "Events delivered by a sink.",
	}, []string{"pipeline", "sink"})
	// Filtered counts events a sink's filter turned down (acked for that sink
	// without delivering).
	Filtered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_filtered_total", Help: "Events a sink's filter turned down.",
	}, []string{"pipeline", "sink"})
	// RoutingErrors counts events a sink's filter or transform failed on
	// (each is poisoned for that sink); stage is filter or transform.
	RoutingErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_routing_errors_total", Help: "Events a sink's filter or transform failed on.",
	}, []string{"pipeline", "sink", "stage"})
	// DeliveryFailed counts failed delivery attempts (each in-process try).
	DeliveryFailed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_delivery_failed_total", Help: "Failed delivery attempts.",
	}, []string{"pipeline", "sink"})
	// Retried counts in-process retries and requeues.
	Retried = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_retried_total", Help: "Delivery retries, in process or requeued.",
	}, []string{"pipeline", "sink", "kind"})
	// Poisoned counts messages moved to the poison queue.
	Poisoned = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_events_poisoned_total", Help: "Events moved to the poison queue.",
	}, []string{"pipeline", "sink"})
	// DeliveryLatency is the time a sink's Publish took, successful or not.
	DeliveryLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tributary_delivery_duration_seconds", Help: "Duration of delivery attempts.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"pipeline", "sink"})
	// SourceErrors counts errors a source met while reading its provider.
	SourceErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tributary_source_errors_total", Help: "Errors met by a source, by kind.",
	}, []string{"source", "kind"})
	// SourceUp is 1 while a source is connected or polling successfully.
	SourceUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_source_up", Help: "1 when the source's last contact with its provider succeeded.",
	}, []string{"source"})
	// SourceLeader is 1 while this instance leads (runs) a source that
	// several instances share, 0 while another instance (or none) does.
	SourceLeader = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_source_leader", Help: "1 while this instance leads the source (runs it), else 0.",
	}, []string{"pipeline", "source", "instance"})
	// SourceLastSuccess is the unix time of a source's last successful poll or frame.
	SourceLastSuccess = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tributary_source_last_success_timestamp_seconds", Help: "Last successful contact with the provider.",
	}, []string{"source"})
)
