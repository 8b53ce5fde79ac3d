package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/config"
)

// webhookCommand: `webhook test` asks a sink that implements
// components.Tester to check its receiver (the right token gets 2xx, a
// wrong one 401).
func (a *app) webhookCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "webhook", Short: "Webhook sink tools"}
	var file, pipeline, sink string
	test := &cobra.Command{
		Use:   "test -c pipeline.yaml --pipeline P --sink S",
		Short: "Check a webhook receiver: right token accepted, wrong token refused (exit 6 when not)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(file)
			if err != nil {
				return err
			}
			p, i, err := cfg.FindSink(pipeline, sink)
			if err != nil {
				return codef(ExitNotFound, "%v", err)
			}
			logger, err := a.logger()
			if err != nil {
				return err
			}
			built, err := cfg.BuildSink(p, i, nil, logger)
			if err != nil {
				return codef(ExitConfig, "%v", err)
			}
			defer closeQuietly(built)
			tester, ok := built.(components.Tester)
			if !ok {
				return codef(ExitUnsupported, "sink %q is of type %q, which has no test (webhook sinks do)", sink, p.SinkTypes[i].Type)
			}
			res, err := tester.Test(cmd.Context())
			if err != nil {
				return withCode(ExitFailure, err)
			}
			if a.json {
				err = printJSON(a.stdout, map[string]any{"ok": res.OK(), "checks": res.Checks})
			} else {
				err = printTable(a.stdout, res.Checks, []string{"CHECK", "RESULT", "DETAIL"}, func(c components.Check) []string {
					return []string{c.Name, map[bool]string{true: "ok", false: "FAILED"}[c.OK], c.Detail}
				})
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				return codef(ExitCheckFailed, "webhook test of %s/%s failed", pipeline, sink)
			}
			return nil
		}),
	}
	test.Flags().StringVarP(&file, "config", "c", "", "pipeline file (required)")
	test.Flags().StringVar(&pipeline, "pipeline", "", "pipeline name (required)")
	test.Flags().StringVar(&sink, "sink", "", "sink name (required)")
	for _, f := range []string{"config", "pipeline", "sink"} {
		_ = test.MarkFlagRequired(f)
	}
	cmd.AddCommand(test)
	return cmd
}

// feedCommand: `feed discard` asks a source that implements
// components.Discarder to drop everything pending at the provider (the
// batch feed's discardAll). It loses events, so it needs --yes.
func (a *app) feedCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "feed", Short: "Batch feed source tools"}
	var file, pipeline, source, reason string
	var yes bool
	discard := &cobra.Command{
		Use:   "discard -c pipeline.yaml --pipeline P --source S --yes",
		Short: "Discard every pending event of a batch feed at the provider (cannot be undone)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return codef(ExitUsage, "feed discard drops the provider's pending events for good: add --yes to confirm")
			}
			cfg, err := a.loadConfig(file)
			if err != nil {
				return err
			}
			p, i, err := cfg.FindSource(pipeline, source)
			if err != nil {
				return codef(ExitNotFound, "%v", err)
			}
			if p.SourceTypes[i].Type == "" {
				return codef(ExitNotFound, "%v", config.ErrNoSuchComponent)
			}
			logger, err := a.logger()
			if err != nil {
				return err
			}
			return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error {
				built, err := cfg.BuildSource(p, i, pool, logger)
				if err != nil {
					return codef(ExitConfig, "%v", err)
				}
				defer closeQuietly(built)
				d, ok := built.(components.Discarder)
				if !ok {
					return codef(ExitUnsupported, "source %q is of type %q, which cannot discard (batch feed sources can)", source, p.SourceTypes[i].Type)
				}
				operator := cmp.Or(a.getenv("USER"), "unknown")
				res, err := d.DiscardAll(ctx, components.DiscardRequest{Confirm: yes, Reason: reason, Operator: operator})
				if err != nil {
					return withCode(ExitFailure, err)
				}
				what := "the pending events"
				if res.Count >= 0 {
					what = fmt.Sprintf("%d pending events", res.Count)
				}
				return a.report(res, "discarded %s of %s/%s %s\n", what, pipeline, source, res.Detail)
			})
		}),
	}
	f := discard.Flags()
	f.StringVarP(&file, "config", "c", "", "pipeline file (required)")
	f.StringVar(&pipeline, "pipeline", "", "pipeline name (required)")
	f.StringVar(&source, "source", "", "source name (required)")
	f.BoolVar(&yes, "yes", false, "confirm")
	f.StringVar(&reason, "reason", "", "why (goes into the source's log)")
	for _, n := range []string{"config", "pipeline", "source"} {
		_ = discard.MarkFlagRequired(n)
	}
	cmd.AddCommand(discard)
	return cmd
}

func closeQuietly(v any) {
	if c, ok := v.(io.Closer); ok {
		_ = c.Close()
	}
}
