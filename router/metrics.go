package router

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented is a source or sink that reports metrics of its own. The
// router calls Instrument once for each, before it is used, with
// Config.Metrics and the names the pipeline gives it; the component labels
// every series with pipeline and name (under "source" or "sink"), so two
// pipelines with a same-named component never share a series. A source is
// instrumented each time it starts. The method names only
// Prometheus types, so a component implements it without importing router.
//
// The router calls it whether or not Config.Metrics is set (reg is then
// nil), so it is also how a component learns its name, which is written
// once, in the pipeline: the built-in sources use it in their log lines,
// their messages' tributary_source and (etagpoll) their checkpoint key.
type Instrumented interface {
	Instrument(reg prometheus.Registerer, pipeline, name string)
}

// instrument hands reg and the names to v if it is Instrumented.
func instrument(reg prometheus.Registerer, v any, pipeline, name string) {
	if in, ok := v.(Instrumented); ok {
		in.Instrument(reg, pipeline, name)
	}
}
