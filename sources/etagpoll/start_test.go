package etagpoll

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

// TestFirstStartReachesBackByOverlap: a source without checkpoint and
// without StartFrom starts the overlap (5 min) before the server's Date
// header and logs that start, because the provider may stamp createdAt with
// another clock (a database host) behind its Date header. Within the
// overlap every event after the start arrives; history older than the
// start does not; beyond the overlap the events that cannot be read are
// logged as errors, not skipped silently.
func TestFirstStartReachesBackByOverlap(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const overlap = 5 * time.Minute
	tests := []struct {
		stampSkew time.Duration // createdAt clock minus the Date header's clock
		lost      bool          // beyond the overlap: early events are lost, loudly
	}{
		{stampSkew: -5 * time.Minute},
		{stampSkew: -3 * time.Minute},
		{stampSkew: 0},
		{stampSkew: 2 * time.Minute},
		{stampSkew: -7 * time.Minute, lost: true},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("createdAt clock %v from Date", tc.stampSkew), func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, "page", 25)
			p.stampSkew = tc.stampSkew
			store := &savingStore{Store: checkpoint.NewStore(pool)}
			src, clk, log := newSteppedSource(t, p, nil, store, fmt.Sprintf("start-%d", i), nil)
			history := p.publish(2, 20*time.Minute) // before any start
			c := collect(t, src, false)
			clk.idle(t)
			clk.step(t) // the first poll picks the start
			date, _ := http.ParseTime(clk.now().UTC().Format(http.TimeFormat))
			saves := store.saved()
			if len(saves) == 0 {
				t.Fatal("the first poll stored no start")
			}
			start := saves[0].Start
			if !start.Equal(date.Add(-overlap)) {
				t.Errorf("start %s, want the server's Date %s minus the overlap", start, date)
			}
			logged := false
			for _, l := range log.Lines("INFO") {
				logged = logged || strings.Contains(l, fmt.Sprint(start))
			}
			if !logged {
				t.Errorf("the chosen start %s is not logged; INFO lines %q", start, log.Lines("INFO"))
			}

			// The first 100 events, stamped by the createdAt clock.
			var want []string
			for range 10 {
				want = append(want, p.publish(10, 0)...)
				clk.step(t)
			}
			for range 3 {
				clk.step(t)
			}
			got := c.distinct()
			for _, id := range history {
				if got[id] != 0 {
					t.Errorf("history event %s (20 min before the start) was delivered", id)
				}
			}
			m := missing(got, want)
			if !tc.lost {
				if len(m) > 0 {
					t.Fatalf("%d of the first %d events skipped, e.g. %v", len(m), len(want), m[:min(len(m), 5)])
				}
				if errs := log.Lines("ERROR"); len(errs) > 0 {
					t.Errorf("errors logged: %q", errs)
				}
				return
			}
			if len(m) == 0 {
				t.Fatal("a createdAt clock 7 min behind lost nothing: the test does not exercise the limit")
			}
			errs := log.Lines("ERROR")
			if len(errs) == 0 {
				t.Fatalf("%d events skipped without an error logged", len(m))
			}
			t.Logf("%d skipped; logged: %s", len(m), errs[0])
		})
	}
}
