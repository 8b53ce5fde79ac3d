package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/migrations"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/store"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations (idempotent, safe to run concurrently)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error {
				stop := make(chan struct{})
				spun := make(chan struct{})
				go func() { newProgress(a.stderr).spinWhile("applying migrations", stop); close(spun) }()
				start := time.Now()
				applied, err := migrations.Up(ctx, pool)
				close(stop)
				<-spun
				if err != nil {
					return dbError(err)
				}
				if a.json {
					return printJSON(a.stdout, map[string]any{"applied": orEmpty(applied), "seconds": time.Since(start).Seconds()})
				}
				if len(applied) == 0 {
					fmt.Fprintln(a.stdout, "database is up to date")
					return nil
				}
				for _, m := range applied {
					fmt.Fprintf(a.stdout, "applied %s\n", m)
				}
				fmt.Fprintf(a.stdout, "%d migrations applied in %s\n", len(applied), time.Since(start).Round(time.Millisecond))
				return nil
			})
		}),
	}
}

func (a *app) poisonCommand() *cobra.Command {
	return recordQueue[middleware.PoisonRecord, router.PoisonFilter]{
		use: "poison", short: "List, show, replay and purge poisoned messages",
		things: "poisoned messages", noun: "poison record", group: "sink",
		showShort:   "Show one poisoned message with its payload and metadata",
		replayShort: "Send poisoned messages back to the sink they failed on, attempts reset",
		fileHelp:    "pipeline file: replay through its backend (required for backend: jetstream)",
		open: func(pool *pgxpool.Pool) recordStore[middleware.PoisonRecord, router.PoisonFilter] {
			return router.NewPoisonQueue(pool)
		},
		fromFile: func(cfg *config.Config, pool *pgxpool.Pool) recordStore[middleware.PoisonRecord, router.PoisonFilter] {
			return cfg.PoisonQueue(pool)
		},
		filter: func(pipeline, sink string, limit int) router.PoisonFilter {
			return router.PoisonFilter{Pipeline: pipeline, Sink: sink, Limit: limit}
		},
		id:      func(r middleware.PoisonRecord) int64 { return r.ID },
		columns: []string{"ID", "PIPELINE", "SINK", "EVENT", "ATTEMPTS", "POISONED", "REASON"},
		row: func(r middleware.PoisonRecord) []string {
			return []string{strconv.FormatInt(r.ID, 10), r.Pipeline, r.Sink, r.EventID, strconv.Itoa(r.Attempts), when(r.PoisonedAt), clip(r.Reason, 60)}
		},
		show: func(w io.Writer, rec middleware.PoisonRecord) {
			fmt.Fprintf(w, "ID:            %d\nPipeline:      %s\nSink:          %s\nEvent:         %s\nMessage UUID:  %s\n",
				rec.ID, rec.Pipeline, rec.Sink, rec.EventID, rec.MessageUUID)
			fmt.Fprintf(w, "Attempts:      %d\nFirst failure: %s\nLast failure:  %s\nPoisoned:      %s\nReason:        %s\n",
				rec.Attempts, when(rec.FirstFailure), when(rec.LastFailure), when(rec.PoisonedAt), rec.Reason)
			fmt.Fprintln(w, "Metadata:")
			t := newTable(w, "  KEY", "VALUE")
			for k, v := range rec.Metadata {
				t.row("  "+k, v)
			}
			_ = t.flush()
			fmt.Fprintf(w, "Payload (%d bytes):\n%s\n", len(rec.Payload), rec.Payload)
		},
		onPostgres: func(ctx context.Context, pool *pgxpool.Pool, rec middleware.PoisonRecord) (bool, string, error) {
			ok, err := store.ConsumerExists(ctx, pool, router.Topic(rec.Pipeline), rec.Sink)
			return ok, fmt.Sprintf("sink %s of pipeline %s reads no Postgres topic", rec.Sink, rec.Pipeline), err
		},
	}.command(a)
}

// replayRecords replays ids one by one, showing progress, and reports which
// were replayed and which not found (ExitNotFound); it stops at the first
// other error. what names the things ("poisoned messages"), records their records.
func (a *app) replayRecords(ctx context.Context, ids []int64, replay func(context.Context, int64) error, what, records string) error {
	p := newProgress(a.stderr)
	var replayed, missing []int64
	for i, id := range ids {
		p.step("replaying", i, len(ids))
		err := replay(ctx, id)
		switch {
		case errors.Is(err, router.ErrNotFound):
			missing = append(missing, id)
		case err != nil:
			p.done()
			return dbError(fmt.Errorf("after %d replayed: %w", len(replayed), err))
		default:
			replayed = append(replayed, id)
		}
	}
	p.step("replaying", len(ids), len(ids))
	p.done()
	if a.json {
		if err := printJSON(a.stdout, map[string]any{"replayed": orEmpty(replayed), "not_found": orEmpty(missing)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "replayed %d %s\n", len(replayed), what)
		for _, id := range missing {
			fmt.Fprintf(a.stdout, "not found: %d\n", id)
		}
	}
	if len(missing) > 0 {
		return &exitError{code: ExitNotFound, err: fmt.Errorf("%d of %d %s not found", len(missing), len(ids), records)}
	}
	return nil
}

func (a *app) deliveriesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deliveries", Short: "Inspect the delivery attempt log"}
	var f store.AttemptFilter
	var outcome string
	list := &cobra.Command{
		Use:   "list",
		Short: "List delivery attempts, newest first",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			f.Outcome = store.Outcome(outcome)
			if f.Outcome != "" && !slices.Contains(store.Outcomes(), f.Outcome) {
				return codef(ExitUsage, "--outcome %q: want one of %s (the outcomes the sinks write)", outcome, outcomeList())
			}
			return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error {
				rows, err := store.Attempts(ctx, pool, f)
				if err != nil {
					return dbError(err)
				}
				// Event ids whole: they are what --event and the console search take.
				header := []string{"ID", "WHEN", "PIPELINE", "SINK", "EVENT", "TRY", "OUTCOME", "STATUS", "LATENCY", "ERROR"}
				return printRows(a.stdout, a.json, rows, header, func(r store.Attempt) []string {
					status := "-"
					if r.StatusCode != 0 {
						status = strconv.Itoa(r.StatusCode)
					}
					return []string{strconv.FormatInt(r.ID, 10), when(r.Time), r.Pipeline, r.Sink, r.EventID, strconv.Itoa(r.Attempt),
						string(r.Outcome), status, fmt.Sprintf("%.1fms", r.LatencyMS()), clip(r.Error, 50)}
				})
			})
		}),
	}
	fl := list.Flags()
	fl.StringVar(&f.Pipeline, "pipeline", "", "only this pipeline")
	fl.StringVar(&f.Sink, "sink", "", "only this sink")
	fl.StringVar(&outcome, "outcome", "", "only this outcome: "+outcomeList())
	fl.StringVar(&f.EventID, "event", "", "only this event id")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many")
	cmd.AddCommand(list)
	return cmd
}

// outcomeList is the delivery log's outcomes, as --outcome accepts them.
func outcomeList() string {
	var names []string
	for _, o := range deliverylog.Outcomes() {
		names = append(names, string(o))
	}
	return strings.Join(names, ", ")
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit (also --version)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(*cobra.Command, []string) error {
			info := buildInfo()
			return a.report(info, "%s\n", versionLine(info))
		}),
	}
}
