package ops_test

import (
	"io"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestAdminPageShowsFiltered: events a sink's filter turned down are shown
// as filtered for that sink (not as failures), with the sink's routing.
func TestAdminPageShowsFiltered(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	filtered := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_events_filtered_total", Help: "h"}, []string{"pipeline", "sink"})
	reg.MustRegister(filtered)
	filtered.WithLabelValues("doors", "oncall").Add(7)
	filtered.WithLabelValues("other", "oncall").Add(100) // another pipeline's sink of the same name
	infos := []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "gen", Type: "generator"}},
		Sinks: []ops.ComponentInfo{{Name: "oncall", Type: "webhook", Routing: "filter: types door.alarm.*"}, {Name: "crm", Type: "webhook"}}}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pgtest.NewPool(t), Pipelines: infos, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/", nil)) // a loopback Host: see hostGuard
	b, _ := io.ReadAll(rec.Body)
	page := string(b)
	for _, re := range []string{
		`data-sink="doors/oncall">.*<td class="filtered">7 filtered</td>`,
		`data-sink="doors/crm">.*<td class="filtered">0 filtered</td>`,
		`oncall <small>\(webhook\)</small> · <small class="routing">filter: types door.alarm.\*</small>`,
	} {
		if !regexp.MustCompile(re).MatchString(page) {
			t.Errorf("admin page lacks %s:\n%s", re, page)
		}
	}
}
