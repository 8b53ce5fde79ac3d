package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/store"
)

// quarantineCommand is `tributary quarantine`: the events the router set
// aside on ingest because the database refuses them for good
// (router.IngestQuarantine), handled like the poison queue.
func (a *app) quarantineCommand() *cobra.Command {
	type rec = router.QuarantineRecord
	type records = recordStore[rec, router.QuarantineFilter]
	return recordQueue[rec, router.QuarantineFilter]{
		use: "quarantine", short: "List, show, replay and purge events the database could never store",
		things: "quarantined events", noun: "quarantine record", group: "source",
		showShort:   "Show one quarantined event with the reason, its metadata and payload",
		replayShort: "Store quarantined events into their pipeline (after a fix), deduped as on ingest",
		fileHelp:    "pipeline file: store through its backend (required for backend: jetstream)",
		open:        func(pool *pgxpool.Pool) records { return router.NewIngestQuarantine(pool) },
		fromFile:    func(cfg *config.Config, pool *pgxpool.Pool) records { return cfg.IngestQuarantine(pool) },
		filter: func(pipeline, source string, limit int) router.QuarantineFilter {
			return router.QuarantineFilter{Pipeline: pipeline, Source: source, Limit: limit}
		},
		id:      func(r rec) int64 { return r.ID },
		columns: []string{"ID", "PIPELINE", "SOURCE", "EVENT", "QUARANTINED", "REASON"},
		row: func(r rec) []string {
			return []string{strconv.FormatInt(r.ID, 10), r.Pipeline, r.Source, clip(r.EventID, 36), when(r.QuarantinedAt), clip(r.Reason, 80)}
		},
		show: func(w io.Writer, r rec) {
			// Quoted: the values are what the database refused, control
			// characters included; quoted, they cannot drive the terminal.
			fmt.Fprintf(w, "ID:            %d\nPipeline:      %s\nSource:        %s\nEvent:         %q\nMessage UUID:  %q\n",
				r.ID, r.Pipeline, r.Source, r.Metadata[tributary.MetaEventID], r.MessageUUID)
			fmt.Fprintf(w, "Quarantined:   %s\nReason:        %s\nSQLSTATE:      %s\n", when(r.QuarantinedAt), r.Reason, r.SQLState)
			fmt.Fprintln(w, "Metadata:")
			t := newTable(w, "  KEY", "VALUE")
			for k, v := range r.Metadata {
				t.row("  "+strconv.Quote(k), strconv.Quote(v))
			}
			_ = t.flush()
			fmt.Fprintf(w, "Payload (%d bytes):\n%q\n", len(r.Payload), r.Payload)
		},
		onPostgres: func(ctx context.Context, pool *pgxpool.Pool, r rec) (bool, string, error) {
			ok, err := store.ConsumerExists(ctx, pool, router.Topic(r.Pipeline), "")
			return ok, fmt.Sprintf("pipeline %s has no Postgres topic", r.Pipeline), err
		},
	}.command(a)
}
