package ops_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestOverviewCountsTheQuarantine: the overview says how many events wait
// in the ingest quarantine and names the command that lists them; with none
// it says nothing.
func TestOverviewCountsTheQuarantine(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	if code, page, _ := request(t, srv.URL, "GET", "/", nil, nil); code != http.StatusOK || strings.Contains(page, `id="quarantine"`) {
		t.Fatalf("empty quarantine: %d, mentioned: %v", code, strings.Contains(page, `id="quarantine"`))
	}
	for range 2 {
		if _, err := pool.Exec(context.Background(), `INSERT INTO tributary_ingest_quarantine
			(pipeline, source, event_id, message_uuid, metadata, payload, reason) VALUES ('p', 's', 'e', 'u', '{}', '{}', 'r')`); err != nil {
			t.Fatal(err)
		}
	}
	if code, page, _ := request(t, srv.URL, "GET", "/", nil, nil); code != http.StatusOK ||
		!strings.Contains(page, "2 events could never be stored") || !strings.Contains(page, "tributary quarantine list") {
		t.Fatalf("two quarantined events: %d, page does not count them", code)
	}
}
