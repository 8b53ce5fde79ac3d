package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// endpointsCommand lists and changes webhook endpoints' stored state
// (tributary_endpoints): a 410 Gone disables an endpoint for every instance
// until an operator enables it here or on the admin page.
func (a *app) endpointsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "endpoints", Short: "Manage endpoints: webhook sinks' state (a 410 Gone disables one) and subscriptions sinks' endpoints"}
	var f webhook.EndpointFilter
	var state, tenant string
	var subs bool
	list := &cobra.Command{
		Use:   "list [--pipeline P] [--sink S] [--state enabled|disabled] | list --subscriptions [--pipeline P] [--sink S] [--tenant T]",
		Short: "List the endpoints the webhook sinks have registered, with their state (--subscriptions: the subscriptions sinks' endpoints)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			if subs {
				return a.listSubscriptions(cmd, subscriptions.Filter{Pipeline: f.Pipeline, Sink: f.Sink, Tenant: tenant})
			}
			switch webhook.State(state) {
			case "", webhook.StateEnabled, webhook.StateDisabled:
				f.State = webhook.State(state)
			default:
				return codef(ExitUsage, "--state %q: want enabled or disabled", state)
			}
			return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error {
				rows, err := webhook.NewPostgresEndpoints(pool).List(ctx, f)
				if err != nil {
					return dbError(err)
				}
				for i := range rows {
					rows[i].Endpoint = webhook.RedactURL(rows[i].Endpoint) // stored redacted; never trust it blindly
				}
				return printRows(a.stdout, a.json, rows, []string{"PIPELINE", "SINK", "STATE", "ENDPOINT", "CHANGED", "BY", "REASON"},
					func(r webhook.EndpointState) []string {
						return []string{r.Pipeline, r.Sink, string(r.State), clip(r.Endpoint, 60), when(r.ChangedAt), clip(r.ChangedBy, 40), clip(r.Reason, 60)}
					})
			})
		}),
	}
	lf := list.Flags()
	lf.StringVar(&f.Pipeline, "pipeline", "", "only this pipeline")
	lf.StringVar(&f.Sink, "sink", "", "only this sink")
	lf.StringVar(&state, "state", "", "only endpoints in this state (enabled or disabled)")
	lf.BoolVar(&subs, "subscriptions", false, "list the subscriptions sinks' endpoints (with their queues) instead")
	lf.StringVar(&tenant, "tenant", "", "with --subscriptions: only this tenant's endpoints")

	var pipeline, sink, reason, id string
	change := func(to webhook.State) func(*cobra.Command, []string) error {
		return wrap(func(cmd *cobra.Command, _ []string) error {
			if id != "" {
				return a.setSubscriptionEnabled(cmd, id, to == webhook.StateEnabled, reason)
			}
			if pipeline == "" || sink == "" {
				return codef(ExitUsage, "give --pipeline and --sink (see `tributary endpoints list`)")
			}
			return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error {
				store := webhook.NewPostgresEndpoints(pool)
				var st webhook.EndpointState
				var err error
				if to == webhook.StateEnabled {
					st, err = store.Enable(ctx, pipeline, sink, a.operator())
				} else {
					st, err = store.Disable(ctx, pipeline, sink, reason, a.operator())
				}
				if errors.Is(err, webhook.ErrEndpointNotFound) {
					return codef(ExitNotFound, "%v", err)
				}
				if err != nil {
					return dbError(err)
				}
				st.Endpoint = webhook.RedactURL(st.Endpoint)
				if a.json {
					return printJSON(a.stdout, st)
				}
				fmt.Fprintf(a.stdout, "%s/%s (%s) is %s; running sinks apply it within a few seconds\n", st.Pipeline, st.Sink, st.Endpoint, st.State)
				if to == webhook.StateEnabled {
					fmt.Fprintf(a.stdout, "replay what was poisoned meanwhile: tributary poison replay --all --pipeline %s --sink %s\n", st.Pipeline, st.Sink)
				}
				return nil
			})
		})
	}
	enable := &cobra.Command{
		Use:   "enable --pipeline P --sink S",
		Short: "Enable an endpoint: deliveries resume (replay its poisoned messages afterwards)",
		Args:  cobra.NoArgs,
		RunE:  change(webhook.StateEnabled),
	}
	disable := &cobra.Command{
		Use:   "disable --pipeline P --sink S [--reason R]",
		Short: "Disable an endpoint: its messages are poisoned, not sent, until it is enabled",
		Args:  cobra.NoArgs,
		RunE:  change(webhook.StateDisabled),
	}
	for _, c := range []*cobra.Command{enable, disable} {
		c.Flags().StringVar(&pipeline, "pipeline", "", "the endpoint's pipeline (required)")
		c.Flags().StringVar(&sink, "sink", "", "the endpoint's sink (required)")
		c.Flags().StringVar(&id, "id", "", "a subscriptions sink's endpoint, by id (instead of --pipeline and --sink)")
	}
	disable.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.AddCommand(list, enable, disable)
	cmd.AddCommand(a.subscriptionCommands()...)
	return cmd
}

// operator names who ran a command, for the records it changes.
func (a *app) operator() string {
	host, _ := os.Hostname()
	return "cli: " + cmp.Or(a.getenv("USER"), "unknown") + "@" + host
}
