package etagpoll

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestDefaultPagingDetectsTheScheme runs the default configuration against
// three APIs: one paging by page number, one by offset that ignores "page",
// one by Link rel="next" that ignores "page" and "offset" (or refuses
// "offset" with a 400, as strict APIs refuse unknown parameters). Each caps its
// pages at 7 although the source asks for 100, and each gets windows that
// fit in one page and windows spanning several, in both orders (the scheme
// is detected on whichever comes first). Every event must arrive, no poll
// may fail, and what was detected is logged once.
func TestDefaultPagingDetectsTheScheme(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	for _, api := range []struct{ paging, refuse string }{{"page", ""}, {"offset", ""}, {"link", ""}, {"link", "offset"}} {
		paging := api.paging
		for _, windows := range [][]int{{3, 40, 2, 15}, {40, 3, 0, 22}} {
			t.Run(fmt.Sprintf("%s refusing %q %v", paging, api.refuse, windows), func(t *testing.T) {
				t.Parallel()
				p := newProvider(t, paging, 7)
				p.refuse = api.refuse
				store := &savingStore{Store: checkpoint.NewStore(pool)}
				src, clk, log := newSteppedSource(t, p, nil, store, fmt.Sprintf("paging-%s-%s-%d", paging, api.refuse, windows[0]), nil)
				c := collect(t, src, false)
				clk.idle(t)
				clk.step(t) // the first poll picks the start
				var want []string
				for _, n := range windows {
					want = append(want, p.publish(n, 0)...)
					clk.step(t)
					if m := missing(c.distinct(), want); len(m) > 0 {
						t.Fatalf("after a window of %d: %d events missing, e.g. %v; errors %q", n, len(m), m[:min(len(m), 3)], log.Lines("ERROR"))
					}
				}
				for range 10 { // quiet polls, re-reading windows that fit in one page
					clk.step(t)
				}
				if errs := log.Lines("ERROR"); len(errs) > 0 {
					t.Fatalf("polls failed: %q", errs)
				}
				var detected []string
				for _, l := range log.Lines("INFO") {
					if strings.Contains(l, "Paging detected") {
						detected = append(detected, l)
					}
				}
				if len(detected) != 1 || !strings.Contains(detected[0], "paging:"+paging) {
					t.Fatalf("want the detection of %q logged once, got %q", paging, detected)
				}
				for id, n := range c.distinct() {
					if n != 1 {
						t.Errorf("event %s handed on %d times", id, n)
					}
				}
			})
		}
	}
}
