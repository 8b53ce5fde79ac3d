package subscriptions

import (
	"strings"
	"time"

	"github.com/tributary-dev/tributary/routing"
)

// index is the sink's in-memory view of its endpoints, built whole from the
// table on every change (a new index replaces the old one atomically, so a
// fan-out reads one consistent set). Matching an event never scans the
// endpoints: per tenant, an exact pattern is a map key, and a glob is filed
// under its literal prefix (the text before its first '*'), so an event of
// type t looks up t itself and each prefix of t — len(t)+1 map lookups —
// and checks only the endpoints found there. With 10,000 endpoints of which
// 1,000 subscribe to one type, an event of that type visits those 1,000, an
// event of a rare type a handful (BenchmarkFanOutLookup).
type index struct {
	version int64
	read    time.Time // when the read of its endpoints began
	byID    map[string]*entry
	tenants map[string]*tenantIndex // "" holds the endpoints without a tenant
	enabled int
	// disabled lists the disabled endpoints: their queued deliveries are
	// left out of claims until they are enabled.
	disabled []string
}

type tenantIndex struct {
	exact  map[string][]*entry // by exact include pattern
	prefix map[string][]*entry // by a glob's text before its first '*'
}

type entry struct {
	ep    Endpoint
	types *routing.TypePatterns
	// excludes: some pattern starts with '!', so an exact hit is checked
	// too; multi: several include patterns, so it may be found twice.
	excludes, multi bool
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
		if !ep.Enabled {
			ix.disabled = append(ix.disabled, ep.ID)
		}
		if err != nil || !ep.Enabled {
			continue
		}
		ix.enabled++
		t := ix.tenants[ep.Tenant]
		if t == nil {
			t = &tenantIndex{exact: map[string][]*entry{}, prefix: map[string][]*entry{}}
			ix.tenants[ep.Tenant] = t
		}
		seen := map[string]bool{}
		includes := 0
		for _, p := range ep.Types {
			if strings.HasPrefix(p, "!") {
				e.excludes = true
				continue
			}
			includes++
			if seen[p] {
				continue
			}
			seen[p] = true
			if i := strings.IndexByte(p, '*'); i >= 0 {
				t.prefix[p[:i]] = append(t.prefix[p[:i]], e)
			} else {
				t.exact[p] = append(t.exact[p], e)
			}
		}
		e.multi = includes > 1
		if includes == 0 { // only exclusions: every other type
			t.prefix[""] = append(t.prefix[""], e)
		}
	}
	return ix
}

// match returns the ids of the enabled endpoints an event of type typ for
// tenant gets: those without a tenant, and tenant's own.
func (ix *index) match(tenant, typ string) []string {
	all, own := ix.tenants[""], ix.tenants[tenant]
	if tenant == "" {
		own = nil
	}
	size := 0
	for _, t := range []*tenantIndex{all, own} {
		if t != nil {
			size += len(t.exact[typ])
		}
	}
	out := make([]string, 0, size)
	var seen map[*entry]bool // only for endpoints with several patterns
	take := func(e *entry, check bool) {
		if check && !e.types.MatchType(typ) {
			return
		}
		if e.multi {
			if seen == nil {
				seen = map[*entry]bool{}
			}
			if seen[e] {
				return
			}
			seen[e] = true
		}
		out = append(out, e.ep.ID)
	}
	for _, t := range []*tenantIndex{all, own} {
		if t == nil {
			continue
		}
		for _, e := range t.exact[typ] {
			take(e, e.excludes)
		}
		if len(t.prefix) == 0 {
			continue
		}
		for k := 0; k <= len(typ); k++ {
			for _, e := range t.prefix[typ[:k]] {
				take(e, true)
			}
		}
	}
	return out
}
