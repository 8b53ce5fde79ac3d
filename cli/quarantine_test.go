package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
)

// TestQuarantineCommands: list shows a quarantined event with its reason;
// show prints the refused id quoted (a NUL as \x00, never raw); replay of
// an event still refused fails and keeps the record; replay without -c of a
// pipeline with no Postgres topic is refused; purge deletes.
func TestQuarantineCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, url)
	env := map[string]string{"DATABASE_URL": url}
	var id, elsewhere int64
	insert := `INSERT INTO tributary_ingest_quarantine (pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason, sqlstate)
		VALUES ($1, 'feed', 'a�b', 'u1', $2, '{}', 'k', 60,
		'a value cannot be stored as text (e.g. a NUL character): unsupported Unicode escape sequence', '22P05') RETURNING id`
	meta := []byte(`{"tributary_event_id":"a\u0000b"}`)
	if err := pool.QueryRow(ctx, insert, "doors", meta).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, insert, "on-jetstream", meta).Scan(&elsewhere); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO tributary_consumers (topic, consumer_group) VALUES ($1, 'sink')`, router.Topic("doors")); err != nil {
		t.Fatal(err)
	}
	ids := strconv.FormatInt(id, 10)

	if code, out, errs := execute(t, env, "quarantine", "list", "--pipeline", "doors"); code != ExitOK || !strings.Contains(out, "NUL character") || !strings.Contains(out, "feed") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := execute(t, env, "quarantine", "show", ids); code != ExitOK || !strings.Contains(out, `"a\x00b"`) || strings.Contains(out, "a\x00b") {
		t.Fatalf("show: exit %d, want the id quoted\n%q\n%s", code, out, errs)
	}
	if code, _, errs := execute(t, env, "quarantine", "replay", ids); code == ExitOK || !strings.Contains(errs, "still cannot be stored") {
		t.Fatalf("replay of a still refused event: exit %d, %s", code, errs)
	}
	if code, _, errs := execute(t, env, "quarantine", "replay", strconv.FormatInt(elsewhere, 10)); code != ExitUsage || !strings.Contains(errs, "replay with -c FILE") {
		t.Fatalf("replay into a pipeline with no Postgres topic: exit %d, %s", code, errs)
	}
	if n, _ := router.NewIngestQuarantine(pool).Count(ctx, router.QuarantineFilter{}); n != 2 {
		t.Fatalf("refused replays removed records (%d left)", n)
	}
	if code, out, errs := execute(t, env, "quarantine", "purge", "--yes", "--pipeline", "doors"); code != ExitOK || !strings.Contains(out, "purged 1 quarantined events") {
		t.Fatalf("purge: exit %d\n%s\n%s", code, out, errs)
	}
}
