package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/migrations"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations (idempotent, safe to run concurrently)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			stop := make(chan struct{})
			spun := make(chan struct{})
			go func() { newProgress(a.stderr).spinWhile("applying migrations", stop); close(spun) }()
			start := time.Now()
			applied, err := migrations.Up(cmd.Context(), pool)
			close(stop)
			<-spun
			if err != nil {
				return dbError(err)
			}
			if applied == nil {
				applied = []string{}
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"applied": applied, "seconds": time.Since(start).Seconds()})
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
		}),
	}
}

func (a *app) poisonCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "poison", Short: "List, show, replay and purge poisoned messages"}
	var f router.PoisonFilter
	addFilter := func(c *cobra.Command) {
		c.Flags().StringVar(&f.Pipeline, "pipeline", "", "only this pipeline")
		c.Flags().StringVar(&f.Sink, "sink", "", "only this sink")
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List poisoned messages, oldest first",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			q := router.NewPoisonQueue(pool)
			recs, err := q.List(cmd.Context(), f)
			if err != nil {
				return dbError(err)
			}
			if a.json {
				if recs == nil {
					recs = []middleware.PoisonRecord{}
				}
				return printJSON(a.stdout, recs)
			}
			t := newTable(a.stdout, "ID", "PIPELINE", "SINK", "EVENT", "ATTEMPTS", "POISONED", "REASON")
			for _, r := range recs {
				t.row(strconv.FormatInt(r.ID, 10), r.Pipeline, r.Sink, r.EventID, strconv.Itoa(r.Attempts), when(r.PoisonedAt), clip(r.Reason, 60))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if n, err := q.Count(cmd.Context(), router.PoisonFilter{Pipeline: f.Pipeline, Sink: f.Sink}); err == nil && n > int64(len(recs)) {
				fmt.Fprintf(a.stderr, "(%d of %d shown; raise --limit)\n", len(recs), n)
			}
			return nil
		}),
	}
	addFilter(list)
	list.Flags().IntVar(&f.Limit, "limit", 100, "at most this many")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one poisoned message with its payload and metadata",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			rec, err := router.NewPoisonQueue(pool).Get(cmd.Context(), id)
			if errors.Is(err, router.ErrNotFound) {
				return codef(ExitNotFound, "%v", err)
			}
			if err != nil {
				return dbError(err)
			}
			if a.json {
				return printJSON(a.stdout, rec)
			}
			w := a.stdout
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
			return nil
		}),
	}

	var all bool
	var replayLimit int
	var replayConfig string
	replay := &cobra.Command{
		Use:   "replay [ID...] | --all [--pipeline P] [--sink S]",
		Short: "Send poisoned messages back to the sink they failed on, attempts reset",
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return codef(ExitUsage, "give poison IDs or --all (with optional --pipeline/--sink), not both")
			}
			var ids []int64
			for _, s := range args {
				id, err := parseID(s)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			q := router.NewPoisonQueue(pool)
			if replayConfig != "" {
				// The file's backend carries the replay: on JetStream, the
				// sink's retry stream.
				cfg, err := a.loadConfig(replayConfig)
				if err != nil {
					return err
				}
				q = cfg.PoisonQueue(pool)
			}
			if all {
				recs, err := q.List(cmd.Context(), router.PoisonFilter{Pipeline: f.Pipeline, Sink: f.Sink, Limit: replayLimit})
				if err != nil {
					return dbError(err)
				}
				for _, r := range recs {
					ids = append(ids, r.ID)
				}
			}
			if replayConfig == "" {
				// Without the file, replay writes to the sink's Postgres
				// retry queue: refuse when no Postgres consumer reads it
				// (its pipeline runs on JetStream), rather than strand it.
				for _, id := range ids {
					rec, err := q.Get(cmd.Context(), id)
					if err != nil {
						continue // not found: reported below
					}
					var onPostgres bool
					if err := pool.QueryRow(cmd.Context(), `SELECT EXISTS (SELECT 1 FROM tributary_consumers
						WHERE topic = $1 AND consumer_group = $2)`, router.Topic(rec.Pipeline), rec.Sink).Scan(&onPostgres); err != nil {
						return dbError(err)
					}
					if !onPostgres {
						return codef(ExitUsage, "poison record %d: sink %s of pipeline %s reads no Postgres topic (backend: jetstream?); replay with -c FILE", id, rec.Sink, rec.Pipeline)
					}
				}
			}
			p := newProgress(a.stderr)
			var replayed []int64
			var missing []int64
			for i, id := range ids {
				p.step("replaying", i, len(ids))
				err := q.Replay(cmd.Context(), id)
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
				if replayed == nil {
					replayed = []int64{}
				}
				if missing == nil {
					missing = []int64{}
				}
				if err := printJSON(a.stdout, map[string]any{"replayed": replayed, "not_found": missing}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "replayed %d poisoned messages\n", len(replayed))
				for _, id := range missing {
					fmt.Fprintf(a.stdout, "not found: %d\n", id)
				}
			}
			if len(missing) > 0 {
				return &exitError{code: ExitNotFound, err: fmt.Errorf("%d of %d poison records not found", len(missing), len(ids))}
			}
			return nil
		}),
	}
	addFilter(replay)
	replay.Flags().BoolVar(&all, "all", false, "replay every matching record, oldest first (up to --limit)")
	replay.Flags().IntVar(&replayLimit, "limit", 1000, "with --all: at most this many")
	replay.Flags().StringVarP(&replayConfig, "config", "c", "", "pipeline file: replay through its backend (required for backend: jetstream)")

	var yes bool
	purge := &cobra.Command{
		Use:   "purge --yes [--pipeline P] [--sink S]",
		Short: "Delete poisoned messages for good",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return codef(ExitUsage, "purge deletes messages for good: add --yes to confirm")
			}
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			n, err := router.NewPoisonQueue(pool).Purge(cmd.Context(), f)
			if err != nil {
				return dbError(err)
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"purged": n})
			}
			fmt.Fprintf(a.stdout, "purged %d poisoned messages\n", n)
			return nil
		}),
	}
	addFilter(purge)
	purge.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")

	cmd.AddCommand(list, show, replay, purge)
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, codef(ExitUsage, "%q is not a poison record ID (a positive integer)", s)
	}
	return id, nil
}

func (a *app) deliveriesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deliveries", Short: "Inspect the delivery attempt log"}
	var f ops.AttemptFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List delivery attempts, newest first",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			if f.Outcome != "" && !slices.Contains(deliverylog.Outcomes(), deliverylog.Outcome(f.Outcome)) {
				return codef(ExitUsage, "--outcome %q: want one of %s (the outcomes the sinks write)", f.Outcome, outcomeList())
			}
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			rows, err := ops.ListAttempts(cmd.Context(), pool, f)
			if err != nil {
				return dbError(err)
			}
			if a.json {
				if rows == nil {
					rows = []ops.Attempt{}
				}
				return printJSON(a.stdout, rows)
			}
			// Event ids whole: they are what --event and the console search take.
			t := newTable(a.stdout, "ID", "WHEN", "PIPELINE", "SINK", "EVENT", "TRY", "OUTCOME", "STATUS", "LATENCY", "ERROR")
			for _, r := range rows {
				status := "-"
				if r.StatusCode != 0 {
					status = strconv.Itoa(r.StatusCode)
				}
				t.row(strconv.FormatInt(r.ID, 10), when(r.AttemptedAt), r.Pipeline, r.Sink, r.EventID, strconv.Itoa(r.Attempt),
					r.Outcome, status, fmt.Sprintf("%.1fms", r.LatencyMS), clip(r.Error, 50))
			}
			return t.flush()
		}),
	}
	fl := list.Flags()
	fl.StringVar(&f.Pipeline, "pipeline", "", "only this pipeline")
	fl.StringVar(&f.Sink, "sink", "", "only this sink")
	fl.StringVar(&f.Outcome, "outcome", "", "only this outcome: "+outcomeList())
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
			if a.json {
				return printJSON(a.stdout, info)
			}
			fmt.Fprintln(a.stdout, versionLine(info))
			return nil
		}),
	}
}
