package ops_test

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
)

// TestAdminPageShowsLanes: an ordered sink's lanes are listed with their
// holder, and a held key with its oldest waiting event and last error.
func TestAdminPageShowsLanes(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO tributary_messages (topic, uuid, payload, metadata) VALUES ('tributary.doors', 'ev-held', '{}', '{}')`,
		`INSERT INTO tributary_lanes (topic, consumer_group, lane, owner, epoch, expires_at) VALUES
			('tributary.doors', 'crm', 0, 'host-1-abc/9f', 3, now() + interval '20 s'), ('tributary.doors', 'crm', 1, '', 1, '-infinity')`,
		`INSERT INTO tributary_lane_events (topic, consumer_group, "offset", lane, key, retry_at, attempts, state)
			SELECT topic, 'crm', "offset", 0, 'door-7', now() + interval '5 s', 2, '{"tributary_last_error": "receiver answered 503"}'
			FROM tributary_messages WHERE uuid = 'ev-held'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: []ops.PipelineInfo{{Name: "doors"}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "127.0.0.1" // httptest's example.com is not a host the admin serves
	adm.Handler().ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	page := string(b)
	for _, re := range []string{
		`data-lane="crm/0"><td>tributary.doors</td><td>crm</td><td>0</td><td>host-1-abc/9f</td><td>3</td><td>1</td>`,
		`data-lane="crm/1">.*<td>free</td>`,
		`data-key="door-7"><td>crm</td><td>door-7</td><td>ev-held</td>.*<td>2</td>.*<td>1</td><td>receiver answered 503</td>`,
	} {
		if !regexp.MustCompile(re).MatchString(page) {
			t.Errorf("admin page lacks %s:\n%s", re, page)
		}
	}
}
