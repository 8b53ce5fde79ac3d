package ops

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSourceStateFromMetrics: the admin page's source column reads each
// source's state from the collectors its type keeps — the shared up / last
// success gauges, the socket's connection state, the ETag cursor, batches,
// events and errors — by the pipeline and source labels.
func TestSourceStateFromMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	gauge := func(name string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: name}, labels)
		reg.MustRegister(g)
		return g
	}
	counter := func(name string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, labels)
		reg.MustRegister(c)
		return c
	}
	last := time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)
	up := gauge("tributary_source_up", "pipeline", "source")
	up.WithLabelValues("p", "panel").Set(1)
	up.WithLabelValues("p", "eventlog").Set(0)
	gauge("tributary_source_last_success_timestamp_seconds", "pipeline", "source").WithLabelValues("p", "panel").Set(float64(last.Unix()))
	gauge("tributary_socketio_connection_state", "pipeline", "source").WithLabelValues("p", "panel").Set(2)
	counter("tributary_socketio_reconnects_total", "pipeline", "source").WithLabelValues("p", "panel").Add(3)
	counter("tributary_socketio_events_total", "pipeline", "source").WithLabelValues("p", "panel").Add(120)
	gauge("tributary_etagpoll_cursor_timestamp_seconds", "pipeline", "source").WithLabelValues("p", "eventlog").Set(float64(last.Unix()))
	counter("tributary_etagpoll_events_acked_total", "pipeline", "source").WithLabelValues("p", "eventlog").Add(1)
	errs := counter("tributary_source_errors_total", "pipeline", "source", "kind")
	errs.WithLabelValues("p", "eventlog", "http").Add(2)
	errs.WithLabelValues("p", "eventlog", "decode").Add(1)
	counter("tributary_batchfeed_batches_completed_total", "pipeline", "source").WithLabelValues("p", "journey").Add(4)
	counter("tributary_batchfeed_notifications_acked_total", "pipeline", "source").WithLabelValues("p", "journey").Add(15)

	a := &Admin{cfg: AdminConfig{Gatherer: reg}}
	got := a.sourceState()
	tests := []struct {
		source, detail string
		hasUp, up      bool
		last           time.Time
	}{
		{"panel", "socket connected · 3 reconnects · 120 events", true, true, last},
		{"eventlog", "cursor 2026-11-29T14:00:00Z · 1 event · 3 errors", true, false, time.Time{}},
		{"journey", "4 batches · 15 events", false, false, time.Time{}},
		{"unknown", "", false, false, time.Time{}},
	}
	for _, tt := range tests {
		st := got["p/"+tt.source]
		if d := st.detail(); d != tt.detail {
			t.Errorf("%s: detail %q, want %q", tt.source, d, tt.detail)
		}
		if st.hasUp != tt.hasUp || (st.up == 1) != tt.up {
			t.Errorf("%s: up %v (known %v), want %v (known %v)", tt.source, st.up, st.hasUp, tt.up, tt.hasUp)
		}
		if !st.last.Equal(tt.last) {
			t.Errorf("%s: last success %v, want %v", tt.source, st.last, tt.last)
		}
	}
}
