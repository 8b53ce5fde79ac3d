package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestSearchPlansUseIndexes: on a topic table large enough for the planner
// to care (20,000 events in 4 topics), every search reads an index and none
// scans the table; those ordered by offset read it backwards and stop at
// the LIMIT, with no sort of every match. (Checked on the plan, not on a
// stopwatch.)
func TestSearchPlansUseIndexes(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO tributary_messages (topic, uuid, payload, metadata, created_at)
		SELECT 'tributary.p' || (i % 4), 'u' || i, '\x7b7d',
			jsonb_build_object('tributary_event_id', 'ev-' || i, 'tributary_source', 'src' || (i % 3), 'tributary_event_type', 'door.t' || (i % 10)),
			now() - make_interval(secs => (20000 - i) * 30)
		FROM generate_series(1, 20000) i;
		ANALYZE tributary_messages`); err != nil {
		t.Fatal(err)
	}
	one := []string{"tributary.p1"}
	tests := []struct {
		name    string
		f       MessageSearch
		index   string
		ordered bool // read in offset order: no sort
	}{
		{"newest", MessageSearch{Topics: one}, "tributary_messages_pkey", true},
		{"next page", MessageSearch{Topics: one, Before: 10001}, "tributary_messages_pkey", true},
		{"by source", MessageSearch{Topics: one, Source: "src2"}, "tributary_messages_source_idx", true},
		{"by type", MessageSearch{Topics: one, Type: "door.t3"}, "tributary_messages_type_idx", true},
		{"by id, every pipeline", MessageSearch{Topics: []string{"tributary.p0", "tributary.p1", "tributary.p2", "tributary.p3"}, EventID: "ev-77"}, "tributary_messages_event_id_idx", false},
		{"closed time range", MessageSearch{Topics: one, From: time.Now().Add(-50 * time.Hour), Until: time.Now().Add(-49 * time.Hour)},
			"tributary_messages_created_idx", false},
		// Until alone: the primary key backwards from Until's offset (found
		// on the created_at index), not from the newest event.
		{"until", MessageSearch{Topics: one, Until: time.Now().Add(-100 * time.Hour)}, "tributary_messages_created_idx", true},
	}
	for _, tc := range tests {
		tc.f.Limit = 50
		q, args := searchQuery(tc.f)
		rows, err := pool.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, tc.index) || strings.Contains(p, "Seq Scan") || (tc.ordered && (strings.Contains(p, "Sort") || !strings.Contains(p, "Backward"))) {
			t.Errorf("%s: want %s%s, got\n%s", tc.name, tc.index, map[bool]string{true: " read backwards, no sort"}[tc.ordered], p)
		}
	}
}
