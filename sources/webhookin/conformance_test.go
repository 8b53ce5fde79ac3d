package webhookin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/webhookin"
	"github.com/tributary-dev/tributary/tributarytest"
)

var conformanceIDs atomic.Int64

// TestConformance runs the source contract's suite: every webhook posted is
// handed on, one whose storing failed is answered with an error and posted
// again by its sender (the provider redelivers; the suite's Publish does
// as senders do), and the source stops cleanly. A receiver does not
// restart (every instance runs it once), and concurrent requests are not
// ordered.
func TestConformance(t *testing.T) {
	t.Parallel()
	tributarytest.TestSource(t, tributarytest.Features{}, func(t *testing.T) tributarytest.Harness {
		src := newSource(t, webhookin.Config{Token: "t"})
		srv := httptest.NewServer(src)
		t.Cleanup(srv.Close)
		return tributarytest.Harness{Source: tributary.FromSubscriber(src, ""), Publish: func(t *testing.T, n int) []string {
			var ids []string
			for range n {
				id := fmt.Sprintf("wh-%d", conformanceIDs.Add(1))
				for {
					resp := post(t, srv.URL, `{"id":"`+id+`","type":"door.unlocked"}`, http.Header{"Token": {"t"}})
					if resp.StatusCode/100 == 2 {
						break
					}
					time.Sleep(5 * time.Millisecond) // the sender's retry
				}
				ids = append(ids, id)
			}
			return ids
		}}
	})
}
