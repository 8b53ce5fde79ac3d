package router

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented is a source or sink that reports metrics of its own. The
// router calls Instrument once for each, before it is used, with
// Config.Metrics and the names the pipeline gives it; the component labels
// every series with pipeline and name (under "source" or "sink"), so two
// pipelines with a same-named component never share a series. A source given
// as New is instrumented each time it is built. The method names only
// Prometheus types, so a component implements it without importing router.
type Instrumented interface {
	Instrument(reg prometheus.Registerer, pipeline, name string)
}

// instrument hands reg to v, or to the first component v wraps that is
// Instrumented.
func instrument(reg prometheus.Registerer, v any, pipeline, name string) {
	for v != nil {
		if in, ok := v.(Instrumented); ok {
			in.Instrument(reg, pipeline, name)
			return
		}
		// A wrapper (a monitor, a trace starter) passes it on.
		switch u := v.(type) {
		case interface{ Unwrap() message.Subscriber }:
			v = u.Unwrap()
		case interface{ Unwrap() message.Publisher }:
			v = u.Unwrap()
		default:
			return
		}
	}
}
