// Package metrics defines Tributary's Prometheus collectors. Nothing is
// registered at init: a router registers its collectors on the Registerer it
// is given (router.Config.Metrics) and hands the same Registerer to each
// source and sink (their Instrument method), so the embedding program picks
// the registry, and every series carries the pipeline: two pipelines with a
// same-named source or sink never share a series.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns the collector to use. When reg
// already holds an equal collector (another sink of the same type, a source
// built again after a leadership change, a second router on the same
// registry) it returns that one: they share one vector and their series
// differ by label. A nil reg leaves c unregistered; so does a registry that
// refuses it (its descriptors clash with another collector's), since a
// metric must never stop delivery.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	return c
}

// Counter registers (or finds) a counter vector on reg (see Register).
func Counter(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	return Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// Gauge registers (or finds) a gauge vector on reg (see Register).
func Gauge(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.GaugeVec {
	return Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

// Router holds the router's collectors.
type Router struct {
	// EventsReceived counts messages a source handed to the ingest path.
	EventsReceived *prometheus.CounterVec
	// EventsIngested counts events stored durably in a pipeline's topic.
	EventsIngested *prometheus.CounterVec
	// EventsDeduped counts duplicates dropped on the ingest path.
	EventsDeduped *prometheus.CounterVec
	// EventsQuarantined counts events set aside in the ingest quarantine
	// because the backend refuses them for good.
	EventsQuarantined *prometheus.CounterVec
	// IngestFailed counts ingest attempts that failed (the source redelivers).
	IngestFailed *prometheus.CounterVec
	// Delivered counts successful deliveries to a sink.
	Delivered *prometheus.CounterVec
	// Filtered counts events a sink's filter turned down (acked for that
	// sink without delivering).
	Filtered *prometheus.CounterVec
	// RoutingErrors counts events a sink's filter or transform failed on
	// (each is poisoned for that sink); stage is filter or transform.
	RoutingErrors *prometheus.CounterVec
	// DeliveryFailed counts failed delivery attempts (each in-process try).
	DeliveryFailed *prometheus.CounterVec
	// Retried counts in-process retries and requeues.
	Retried *prometheus.CounterVec
	// Poisoned counts messages moved to the poison queue.
	Poisoned *prometheus.CounterVec
	// DeliveryLatency is the time a sink's Publish took, successful or not.
	DeliveryLatency *prometheus.HistogramVec
	// SourceLeader is 1 while this instance leads (runs) a source that
	// several instances share, 0 while another instance (or none) does.
	SourceLeader *prometheus.GaugeVec
}

// NewRouter registers the router's collectors on reg (see Register).
func NewRouter(reg prometheus.Registerer) *Router {
	return &Router{
		EventsReceived:    Counter(reg, "tributary_events_received_total", "Events read from a source.", "pipeline", "source"),
		EventsIngested:    Counter(reg, "tributary_events_ingested_total", "Events stored in the pipeline topic.", "pipeline", "source"),
		EventsDeduped:     Counter(reg, "tributary_events_deduped_total", "Duplicate events dropped on ingest.", "pipeline", "source"),
		EventsQuarantined: Counter(reg, "tributary_events_quarantined_total", "Events set aside in the ingest quarantine: the backend refuses them for good.", "pipeline", "source"),
		IngestFailed:      Counter(reg, "tributary_ingest_failed_total", "Ingest attempts that failed.", "pipeline", "source"),
		Delivered:         Counter(reg, "tributary_events_delivered_total", "Events delivered by a sink.", "pipeline", "sink"),
		Filtered:          Counter(reg, "tributary_events_filtered_total", "Events a sink's filter turned down.", "pipeline", "sink"),
		RoutingErrors:     Counter(reg, "tributary_routing_errors_total", "Events a sink's filter or transform failed on.", "pipeline", "sink", "stage"),
		DeliveryFailed:    Counter(reg, "tributary_delivery_failed_total", "Failed delivery attempts.", "pipeline", "sink"),
		Retried:           Counter(reg, "tributary_events_retried_total", "Delivery retries, in process, requeued, or held back (ordered sinks).", "pipeline", "sink", "kind"),
		Poisoned:          Counter(reg, "tributary_events_poisoned_total", "Events moved to the poison queue.", "pipeline", "sink"),
		DeliveryLatency: Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tributary_delivery_duration_seconds", Help: "Duration of delivery attempts.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"pipeline", "sink"})),
		SourceLeader: Gauge(reg, "tributary_source_leader", "1 while this instance leads the source (runs it), else 0.", "pipeline", "source", "instance"),
	}
}

// Source is the state every source reports, for one source of one
// pipeline: whether its last contact with the provider succeeded, when, and
// the errors it met by kind.
type Source struct {
	// Up is 1 while the source is connected or polling successfully.
	Up prometheus.Gauge
	// LastSuccess is the unix time of the last successful poll or frame.
	LastSuccess prometheus.Gauge
	// errors is shared by every source: a curried vector per source would
	// cost an idle source a few hundred bytes.
	errors           *prometheus.CounterVec
	pipeline, source string
}

// NewSource registers (or finds) the shared source collectors on reg and
// returns them for one source. A nil reg counts for nobody: a source not
// (yet) given a Registerer by a router.
func NewSource(reg prometheus.Registerer, pipeline, source string) *Source {
	l := prometheus.Labels{"pipeline": pipeline, "source": source}
	return &Source{
		Up:          Gauge(reg, "tributary_source_up", "1 when the source's last contact with its provider succeeded.", "pipeline", "source").With(l),
		LastSuccess: Gauge(reg, "tributary_source_last_success_timestamp_seconds", "Last successful contact with the provider.", "pipeline", "source").With(l),
		errors:      Counter(reg, "tributary_source_errors_total", "Errors met by a source, by kind.", "pipeline", "source", "kind"),
		pipeline:    pipeline, source: source,
	}
}

// Error counts one error of the given kind.
func (s *Source) Error(kind string) { s.Errors(kind).Inc() }

// Errors returns the error counter of one kind (for tests and reports).
func (s *Source) Errors(kind string) prometheus.Counter {
	return s.errors.WithLabelValues(s.pipeline, s.source, kind)
}
