package subscriptions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/routing"
)

// TestIndexMatchesLikeAScan: the index finds exactly the endpoints a scan of
// every endpoint with routing's matcher and the tenant rule finds.
func TestIndexMatchesLikeAScan(t *testing.T) {
	t.Parallel()
	eps := scaleEndpoints()[:3000]
	eps = append(eps,
		Endpoint{ID: "multi", Types: []string{"comment.*", "comment.created", "*.created"}, Enabled: true},
		Endpoint{ID: "except", Types: []string{"!comment.spam"}, Enabled: true},
		Endpoint{ID: "exact-but", Types: []string{"comment.created", "!comment.created"}, Enabled: true},
		Endpoint{ID: "off", Types: []string{"comment.created"}, Enabled: false},
		Endpoint{ID: "mid", Types: []string{"comm*ated"}, Enabled: true, Tenant: "tenant-3"},
	)
	ix := buildIndex(1, eps)
	types := []string{"comment.created", "comment.spam", "comment.deleted", "rare17.created", "rare3.deleted", "rare5.x", "", "x"}
	for _, tenant := range []string{"", "tenant-3", "tenant-7", "nobody"} {
		for _, typ := range types {
			var want []string
			for _, e := range eps {
				pats, err := routing.CompileTypes(e.Types...)
				if err != nil {
					t.Fatal(err)
				}
				if e.Enabled && (e.Tenant == "" || e.Tenant == tenant) && pats.MatchType(typ) {
					want = append(want, e.ID)
				}
			}
			got := ix.match(tenant, typ)
			slices.Sort(want)
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("tenant %q type %q: index %d endpoints, scan %d\nindex %v\nscan  %v", tenant, typ, len(got), len(want), got, want)
			}
		}
	}
}
