package subscriptions

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tributary-dev/tributary/sinks/webhook"
)

// scaleEndpoints is the scale: 10,000 endpoints in one sink, 1,000
// of them subscribed to one popular type, the others spread over 900 rare
// types, one in ten with a glob, and one in seven owned by one of 50 tenants.
func scaleEndpoints() []Endpoint {
	eps := make([]Endpoint, 10_000)
	for i := range eps {
		e := Endpoint{ID: fmt.Sprintf("ep_%05d", i), Pipeline: "p", Sink: "hooks", Method: "POST", Enabled: true, Version: 1,
			URL: fmt.Sprintf("https://customer-%d.example/hooks/comments", i), Token: "t0k3n-" + fmt.Sprint(i)}
		switch {
		case i < 1000:
			e.Types = []string{"comment.created"}
		case i%10 == 0:
			e.Types = []string{fmt.Sprintf("rare%d.*", i%90)}
		default:
			e.Types = []string{fmt.Sprintf("rare%d.created", i%900), fmt.Sprintf("rare%d.deleted", i%900)}
		}
		if i%7 == 0 {
			e.Tenant = fmt.Sprintf("tenant-%d", i%50)
		}
		eps[i] = e
	}
	return eps
}

// BenchmarkFanOutLookup is the per-event cost of finding the subscribers:
// popular is the type 1,000 of the 10,000 endpoints subscribe to, rare one a
// handful do.
func BenchmarkFanOutLookup(b *testing.B) {
	ix := buildIndex(1, scaleEndpoints())
	for _, c := range []struct{ name, tenant, typ string }{
		{"popular", "", "comment.created"},
		{"popular-tenant", "tenant-3", "comment.created"},
		{"rare", "", "rare17.created"},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n = len(ix.match(c.tenant, c.typ))
			}
			b.ReportMetric(float64(n), "endpoints/event")
		})
	}
}

// BenchmarkIdleEndpointMemory measures the heap an endpoint costs while it
// has no work (its index entry: the row and its compiled patterns) and
// while it has (plus its lane's webhook.Publisher with its HTTP transport).
func BenchmarkIdleEndpointMemory(b *testing.B) {
	eps := scaleEndpoints()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		before := heap()
		ix := buildIndex(1, eps)
		idle := float64(heap()-before) / float64(len(eps))
		before = heap()
		pubs := make([]*webhook.Publisher, 1000)
		var defaults Config
		defaults.setDefaults()
		for i := range pubs {
			cfg := eps[i].webhookConfig(defaults.base(), eps[i].CreatedAt)
			p, err := webhook.NewPublisher(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			pubs[i] = p
		}
		active := float64(heap()-before) / float64(len(pubs))
		runtime.KeepAlive(ix)
		runtime.KeepAlive(pubs)
		b.ReportMetric(idle, "B/idle-endpoint")
		b.ReportMetric(active, "B/publisher")
	}
}
