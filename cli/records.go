package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/router"
)

// recordStore is a queue of records an operator lists, shows, replays and
// purges: the poison queue (router.PoisonQueue) and the ingest quarantine
// (router.IngestQuarantine). F is its filter.
type recordStore[R, F any] interface {
	List(context.Context, F) ([]R, error)
	Count(context.Context, F) (int64, error)
	Get(context.Context, int64) (R, error)
	Replay(context.Context, int64) error
	Purge(context.Context, F) (int64, error)
}

// recordQueue describes one such queue; command builds its list, show,
// replay and purge subcommands.
type recordQueue[R, F any] struct {
	use, short string
	// things is what a record holds, plural ("poisoned messages"); noun a
	// record ("poison record").
	things, noun string
	// group is the second filter beside --pipeline ("sink", "source").
	group                            string
	showShort, replayShort, fileHelp string
	open                             func(*pgxpool.Pool) recordStore[R, F]
	// fromFile is the queue through a pipeline file's backend (-c).
	fromFile func(*config.Config, *pgxpool.Pool) recordStore[R, F]
	filter   func(pipeline, group string, limit int) F
	id       func(R) int64
	columns  []string
	row      func(R) []string
	show     func(io.Writer, R)
	// onPostgres says whether a record's replay without -c (into Postgres)
	// reaches a reader, and what to say when not.
	onPostgres func(context.Context, *pgxpool.Pool, R) (ok bool, why string, err error)
}

func (k recordQueue[R, F]) command(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: k.use, Short: k.short}
	var pipeline, group string
	var limit int
	addFilter := func(c *cobra.Command) {
		c.Flags().StringVar(&pipeline, "pipeline", "", "only this pipeline")
		c.Flags().StringVar(&group, k.group, "", "only this "+k.group)
	}
	withStore := func(cmd *cobra.Command, use func(*pgxpool.Pool, recordStore[R, F]) error) error {
		return a.withPool(cmd, func(_ context.Context, pool *pgxpool.Pool) error { return use(pool, k.open(pool)) })
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List " + k.things + ", oldest first",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(_ *pgxpool.Pool, q recordStore[R, F]) error {
				recs, err := q.List(cmd.Context(), k.filter(pipeline, group, limit))
				if err != nil {
					return dbError(err)
				}
				if err := printRows(a.stdout, a.json, recs, k.columns, k.row); err != nil || a.json {
					return err
				}
				if n, err := q.Count(cmd.Context(), k.filter(pipeline, group, 0)); err == nil && n > int64(len(recs)) {
					fmt.Fprintf(a.stderr, "(%d of %d shown; raise --limit)\n", len(recs), n)
				}
				return nil
			})
		}),
	}
	addFilter(list)
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")

	show := &cobra.Command{
		Use:   "show ID",
		Short: k.showShort,
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return withStore(cmd, func(_ *pgxpool.Pool, q recordStore[R, F]) error {
				rec, err := q.Get(cmd.Context(), id)
				if errors.Is(err, router.ErrNotFound) {
					return codef(ExitNotFound, "%v", err)
				}
				if err != nil {
					return dbError(err)
				}
				if a.json {
					return printJSON(a.stdout, rec)
				}
				k.show(a.stdout, rec)
				return nil
			})
		}),
	}

	var all bool
	var replayLimit int
	var replayConfig string
	replay := &cobra.Command{
		Use:   "replay [ID...] | --all [--pipeline P] [--" + k.group + " " + string(k.group[0]-32) + "]",
		Short: k.replayShort,
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return codef(ExitUsage, "give %s IDs or --all (with optional --pipeline/--%s), not both", k.use, k.group)
			}
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return withStore(cmd, func(pool *pgxpool.Pool, q recordStore[R, F]) error {
				if replayConfig != "" {
					// The file's backend carries the replay (JetStream).
					cfg, err := a.loadConfig(replayConfig)
					if err != nil {
						return err
					}
					q = k.fromFile(cfg, pool)
				}
				if all {
					recs, err := q.List(cmd.Context(), k.filter(pipeline, group, replayLimit))
					if err != nil {
						return dbError(err)
					}
					for _, r := range recs {
						ids = append(ids, k.id(r))
					}
				}
				if replayConfig == "" {
					// Without the file, replay writes to Postgres: refuse
					// when nothing reads it there (the pipeline runs on
					// JetStream), rather than strand it.
					for _, id := range ids {
						rec, err := q.Get(cmd.Context(), id)
						if err != nil {
							continue // not found: reported below
						}
						ok, why, err := k.onPostgres(cmd.Context(), pool, rec)
						if err != nil {
							return dbError(err)
						}
						if !ok {
							return codef(ExitUsage, "%s %d: %s (backend: jetstream?); replay with -c FILE", k.noun, id, why)
						}
					}
				}
				return a.replayRecords(cmd.Context(), ids, q.Replay, k.things, k.noun+"s")
			})
		}),
	}
	addFilter(replay)
	replay.Flags().BoolVar(&all, "all", false, "replay every matching record, oldest first (up to --limit)")
	replay.Flags().IntVar(&replayLimit, "limit", 1000, "with --all: at most this many")
	replay.Flags().StringVarP(&replayConfig, "config", "c", "", k.fileHelp)

	var yes bool
	purge := &cobra.Command{
		Use:   "purge --yes [--pipeline P] [--" + k.group + " " + string(k.group[0]-32) + "]",
		Short: "Delete " + k.things + " for good",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return codef(ExitUsage, "purge deletes %s for good: add --yes to confirm", k.things)
			}
			return withStore(cmd, func(_ *pgxpool.Pool, q recordStore[R, F]) error {
				n, err := q.Purge(cmd.Context(), k.filter(pipeline, group, 0))
				if err != nil {
					return dbError(err)
				}
				return a.report(map[string]any{"purged": n}, "purged %d %s\n", n, k.things)
			})
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
		return 0, codef(ExitUsage, "%q is not a record ID (a positive integer)", s)
	}
	return id, nil
}

func parseIDs(args []string) ([]int64, error) {
	var ids []int64
	for _, s := range args {
		id, err := parseID(s)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
