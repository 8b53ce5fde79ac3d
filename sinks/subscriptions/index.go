package subscriptions

import (
	"strings"

	"github.com/tributary-dev/tributary/routing"
)

// index is the sink's in-memory view of its endpoints, built whole from the
// table on every change (a new index replaces the old one atomically, so a
// fan-out reads one consistent set). Matching an event costs a map lookup
// by tenant and exact type plus a check of the endpoints that subscribe
// with a glob — never a scan of every endpoint: with 10,000 endpoints of
// which 1,000 subscribe to one type, an event of that type visits those
// 1,000 (and the glob subscribers), an event of a rare type a handful.
type index struct {
	version int64
	byID    map[string]*entry
	tenants map[string]*tenantIndex // "" holds the endpoints without a tenant
	enabled int
}

type tenantIndex struct {
	exact map[string][]*entry // by exact include pattern
	globs []*entry            // endpoints with a '*' in some include pattern
}

type entry struct {
	ep    Endpoint
	types *routing.TypePatterns
}

// buildIndex indexes the enabled endpoints of eps (all of them by id).
// Endpoints whose patterns no longer compile (stored before a rule changed)
// are left out of matching.
func buildIndex(version int64, eps []Endpoint) *index {
	ix := &index{version: version, byID: make(map[string]*entry, len(eps)), tenants: map[string]*tenantIndex{}}
	for _, ep := range eps {
		types, err := routing.CompileTypes(ep.Types...)
		e := &entry{ep: ep, types: types}
		ix.byID[ep.ID] = e
		if err != nil || !ep.Enabled {
			continue
		}
		ix.enabled++
		t := ix.tenants[ep.Tenant]
		if t == nil {
			t = &tenantIndex{exact: map[string][]*entry{}}
			ix.tenants[ep.Tenant] = t
		}
		var exact []string
		glob := false
		for _, p := range ep.Types {
			switch {
			case strings.HasPrefix(p, "!"):
			case strings.Contains(p, "*"):
				glob = true
			default:
				exact = append(exact, p)
			}
		}
		if glob || len(exact) == 0 {
			t.globs = append(t.globs, e)
			continue
		}
		seen := map[string]bool{}
		for _, p := range exact {
			if !seen[p] {
				seen[p] = true
				t.exact[p] = append(t.exact[p], e)
			}
		}
	}
	return ix
}

// match returns the ids of the enabled endpoints an event of type typ for
// tenant gets: those without a tenant, and tenant's own.
func (ix *index) match(tenant, typ string) []string {
	var out []string
	add := func(t *tenantIndex) {
		if t == nil {
			return
		}
		for _, e := range t.exact[typ] {
			if e.types.MatchType(typ) { // its exclusions
				out = append(out, e.ep.ID)
			}
		}
		for _, e := range t.globs {
			if e.types.MatchType(typ) {
				out = append(out, e.ep.ID)
			}
		}
	}
	add(ix.tenants[""])
	if tenant != "" {
		add(ix.tenants[tenant])
	}
	return out
}
