package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// The `endpoints` commands for a subscriptions sink's endpoints (rows in
// tributary_subscription_endpoints): add, update, remove, rotate, test,
// queue, replay; `endpoints list --subscriptions` lists them and `endpoints
// enable|disable --id` switches one. Running sinks apply every change
// within a second or two.

// endpointFlags are the flags that set an endpoint's fields.
type endpointFlags struct {
	id, pipeline, sink, tenant, description, url, method, token, tokenHeader, basicUser, basicPassword string
	types, secrets, headers                                                                            []string
	newSecret                                                                                          bool
	rateLimit                                                                                          float64
}

func (f *endpointFlags) register(cmd *cobra.Command, add bool) {
	fl := cmd.Flags()
	if add {
		fl.StringVar(&f.id, "id", "", "the endpoint's id (generated when empty)")
		fl.StringVar(&f.pipeline, "pipeline", "", "the pipeline of the subscriptions sink (required)")
		fl.StringVar(&f.sink, "sink", "", "the subscriptions sink (required)")
	}
	fl.StringVar(&f.tenant, "tenant", "", "the tenant owning the endpoint: it gets that tenant's events only")
	fl.StringVar(&f.description, "description", "", "a note for operators")
	fl.StringVar(&f.url, "url", "", "the receiver's http(s) URL; {id} is replaced by the event id")
	fl.StringVar(&f.method, "method", "", "POST (default) or PUT (needs {id} in the URL)")
	fl.StringSliceVar(&f.types, "type", nil, "an event-type pattern to subscribe to (repeat, or comma-separate): comment.created, comment.*, !comment.spam")
	fl.StringVar(&f.token, "token", "", "a secret token sent in the token header")
	fl.StringVar(&f.tokenHeader, "token-header", "", "the header carrying the token (default token)")
	fl.StringVar(&f.basicUser, "basic-user", "", "HTTP Basic user name")
	fl.StringVar(&f.basicPassword, "basic-password", "", "HTTP Basic password")
	fl.StringSliceVar(&f.secrets, "secret", nil, "a Standard Webhooks secret whsec_… (replaces the stored ones; see rotate)")
	fl.BoolVar(&f.newSecret, "new-secret", false, "generate a Standard Webhooks secret and print it once")
	fl.StringArrayVar(&f.headers, "header", nil, "an extra header Name=value (repeat)")
	fl.Float64Var(&f.rateLimit, "rate-limit", 0, "requests per second to this endpoint (0: no limit)")
}

// patch returns the fields the command line set.
func (f *endpointFlags) patch(cmd *cobra.Command) (subscriptions.Patch, string, error) {
	var p subscriptions.Patch
	changed := cmd.Flags().Changed
	str := func(name string, v *string) *string {
		if changed(name) {
			return v
		}
		return nil
	}
	p.Tenant, p.Description, p.URL, p.Method = str("tenant", &f.tenant), str("description", &f.description), str("url", &f.url), str("method", &f.method)
	p.Token, p.TokenHeader = str("token", &f.token), str("token-header", &f.tokenHeader)
	p.BasicUsername, p.BasicPassword = str("basic-user", &f.basicUser), str("basic-password", &f.basicPassword)
	if changed("type") {
		p.Types = &f.types
	}
	if changed("rate-limit") {
		p.RateLimit = &f.rateLimit
	}
	generated := ""
	if changed("secret") || f.newSecret {
		var secrets []subscriptions.Secret
		if f.newSecret {
			generated = subscriptions.NewSecret()
			secrets = append(secrets, subscriptions.Secret{Secret: generated})
		}
		for _, s := range f.secrets {
			secrets = append(secrets, subscriptions.Secret{Secret: s})
		}
		p.Secrets = &secrets
	}
	if changed("header") {
		h := map[string]string{}
		for _, kv := range f.headers {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return p, "", codef(ExitUsage, "--header %q: want Name=value", k)
			}
			h[k] = v
		}
		p.Headers = &h
	}
	return p, generated, nil
}

// endpointError gives a validation error the usage exit code, a missing
// endpoint the not-found one.
func endpointError(err error) error {
	switch {
	case errors.Is(err, subscriptions.ErrInvalid):
		return withCode(ExitUsage, err)
	case errors.Is(err, subscriptions.ErrNotFound):
		return withCode(ExitNotFound, err)
	}
	return dbError(err)
}

func (a *app) withStore(cmd *cobra.Command, f func(ctx context.Context, s *subscriptions.Store) error) error {
	return a.withPool(cmd, func(ctx context.Context, pool *pgxpool.Pool) error { return f(ctx, subscriptions.NewStore(pool)) })
}

// printEndpoint prints the endpoint a change returned, credentials
// redacted, and a generated secret once; or the change's error.
func (a *app) printEndpoint(ep subscriptions.Endpoint, err error, verb, generated string) error {
	if err != nil {
		return endpointError(err)
	}
	ep = ep.Redacted()
	if a.json {
		out := map[string]any{"endpoint": ep}
		if generated != "" {
			out["generated_secret"] = generated
		}
		return printJSON(a.stdout, out)
	}
	state := "enabled"
	if !ep.Enabled {
		state = "disabled (" + ep.DisabledReason + ")"
	}
	fmt.Fprintf(a.stdout, "endpoint %s %s: %s/%s → %s %s, types %s, %s; running sinks apply it within a few seconds\n",
		ep.ID, verb, ep.Pipeline, ep.Sink, ep.Method, ep.URL, strings.Join(ep.Types, ","), state)
	if generated != "" {
		fmt.Fprintf(a.stdout, "signing secret (shown once): %s\n", generated)
	}
	return nil
}

func (a *app) subscriptionCommands() []*cobra.Command {
	var addFlags endpointFlags
	add := &cobra.Command{
		Use:   "add --pipeline P --sink S --url URL --type T [--token T | --basic-user U --basic-password P | --secret whsec_… | --new-secret]",
		Short: "Add an endpoint to a subscriptions sink (it receives the events fanned out from now on)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			p, generated, err := addFlags.patch(cmd)
			if err != nil {
				return err
			}
			ep := subscriptions.Endpoint{ID: addFlags.id, Pipeline: addFlags.pipeline, Sink: addFlags.sink}
			p.Apply(&ep)
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				out, err := s.Create(ctx, ep, a.operator())
				return a.printEndpoint(out, err, "added", generated)
			})
		}),
	}
	addFlags.register(add, true)

	var updFlags endpointFlags
	update := &cobra.Command{
		Use:   "update ID [--url …] [--type …] [--token …] …",
		Short: "Change an endpoint's fields (those given; --type and --secret replace the lists)",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			p, generated, err := updFlags.patch(cmd)
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				out, err := s.Update(ctx, args[0], p, a.operator())
				return a.printEndpoint(out, err, "updated", generated)
			})
		}),
	}
	updFlags.register(update, false)

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an endpoint with its queue",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				if err := s.Delete(ctx, args[0]); err != nil {
					return endpointError(err)
				}
				return a.report(map[string]string{"removed": args[0]}, "endpoint %s removed\n", args[0])
			})
		}),
	}

	var rotSecret string
	var overlap time.Duration
	rotate := &cobra.Command{
		Use:   "rotate ID [--secret whsec_…] [--overlap 24h]",
		Short: "Add a new signing secret; the old ones still sign until the overlap ends",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			generated := ""
			if rotSecret == "" {
				rotSecret = subscriptions.NewSecret()
				generated = rotSecret
			}
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				out, err := s.Rotate(ctx, args[0], rotSecret, overlap, a.operator())
				return a.printEndpoint(out, err, "rotated", generated)
			})
		}),
	}
	rotate.Flags().StringVar(&rotSecret, "secret", "", "the new secret (generated and printed once when empty)")
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old secrets keep signing")

	var testTypes []string
	var allowPrivate bool
	test := &cobra.Command{
		Use:   "test ID [--type T]… [--allow-private-networks]",
		Short: "Send each event type's test payload with the right key (want 2xx) and a wrong one (want 401)",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				ep, err := s.Get(ctx, args[0])
				if err != nil {
					return endpointError(err)
				}
				res, err := subscriptions.Test(ctx, ep, testTypes, subscriptions.TestOptions{AllowPrivateNetworks: allowPrivate})
				if err != nil {
					return endpointError(err)
				}
				ok := len(res) > 0 && !slices.ContainsFunc(res, func(r subscriptions.TypeTest) bool { return !r.Verified })
				if a.json {
					err = printJSON(a.stdout, map[string]any{"ok": ok, "tests": res})
				} else {
					err = printTable(a.stdout, res, []string{"TYPE", "KIND", "RIGHT KEY", "WRONG KEY", "RESULT"}, func(r subscriptions.TypeTest) []string {
						return []string{r.Type, r.Kind, probeText(r.RightKey), probeText(r.WrongKey), r.Reason}
					})
				}
				if err != nil {
					return err
				}
				if !ok {
					return codef(ExitCheckFailed, "endpoint %s is not verified", ep.ID)
				}
				return nil
			})
		}),
	}
	test.Flags().StringSliceVar(&testTypes, "type", nil, "event types to test (default: the endpoint's types; created, updated and deleted for a glob)")
	test.Flags().BoolVar(&allowPrivate, "allow-private-networks", false, "allow a receiver on loopback or a private network")

	var qstate string
	var qlimit int
	queue := &cobra.Command{
		Use:   "queue ID [--state pending|delivered|poisoned] [--limit N]",
		Short: "Show an endpoint's queue: its deliveries, newest first, with attempts and last error",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				rows, err := s.Queue(ctx, args[0], subscriptions.QueueFilter{State: subscriptions.DeliveryState(qstate), Limit: qlimit})
				if err != nil {
					return endpointError(err)
				}
				header := []string{"ID", "EVENT", "TYPE", "STATE", "ATTEMPTS", "NEXT", "ERROR"}
				return printRows(a.stdout, a.json, rows, header, func(d subscriptions.Delivery) []string {
					next := ""
					if d.State == subscriptions.StatePending {
						next = when(d.NextAt)
					}
					return []string{strconv.FormatInt(d.ID, 10), d.EventID, d.EventType, string(d.State), strconv.Itoa(d.Attempts), next, clip(d.LastError, 60)}
				})
			})
		}),
	}
	queue.Flags().StringVar(&qstate, "state", "", "only deliveries in this state")
	queue.Flags().IntVar(&qlimit, "limit", 100, "at most this many")

	var since string
	replay := &cobra.Command{
		Use:   "replay ID [--since RFC3339|DURATION]",
		Short: "Queue an endpoint's poisoned deliveries again, and with --since every event it subscribes to since then",
		Args:  cobra.ExactArgs(1),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			var from time.Time
			if since != "" {
				if d, err := time.ParseDuration(since); err == nil {
					from = time.Now().Add(-d)
				} else if from, err = time.Parse(time.RFC3339, since); err != nil {
					return codef(ExitUsage, "--since %q: want an RFC 3339 time or a duration (2h)", since)
				}
			}
			return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
				n, err := s.Replay(ctx, args[0], from)
				if err != nil {
					return endpointError(err)
				}
				return a.report(map[string]int{"queued": n}, "%d deliveries queued for %s\n", n, args[0])
			})
		}),
	}
	replay.Flags().StringVar(&since, "since", "", "also replay every matching event fanned out since this time (RFC 3339) or this long ago (2h)")
	return []*cobra.Command{add, update, remove, rotate, test, queue, replay}
}

func probeText(p subscriptions.Probe) string {
	if p.Error != "" {
		return clip(p.Error, 40)
	}
	return fmt.Sprintf("%d in %.0fms", p.Status, p.LatencyMS)
}

// listSubscriptions prints the subscriptions sinks' endpoints with their
// queue counts (`endpoints list --subscriptions`).
func (a *app) listSubscriptions(cmd *cobra.Command, f subscriptions.Filter) error {
	return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
		eps, err := s.List(ctx, f)
		if err != nil {
			return dbError(err)
		}
		type row struct {
			subscriptions.Endpoint
			Queue map[subscriptions.DeliveryState]int `json:"queue"`
		}
		rows := make([]row, 0, len(eps))
		for _, ep := range eps {
			counts, err := s.Counts(ctx, ep.ID)
			if err != nil {
				return dbError(err)
			}
			rows = append(rows, row{Endpoint: ep.Redacted(), Queue: counts})
		}
		header := []string{"ID", "PIPELINE", "SINK", "TENANT", "STATE", "TYPES", "URL", "PENDING", "POISONED", "DELIVERED"}
		return printRows(a.stdout, a.json, rows, header, func(r row) []string {
			state := "enabled"
			if !r.Enabled {
				state = "disabled: " + clip(r.DisabledReason, 40)
			}
			return []string{r.ID, r.Pipeline, r.Sink, r.Tenant, state, clip(strings.Join(r.Types, ","), 40), clip(r.URL, 50),
				strconv.Itoa(r.Queue[subscriptions.StatePending]), strconv.Itoa(r.Queue[subscriptions.StatePoisoned]),
				strconv.Itoa(r.Queue[subscriptions.StateDelivered])}
		})
	})
}

// setSubscriptionEnabled is `endpoints enable|disable --id`.
func (a *app) setSubscriptionEnabled(cmd *cobra.Command, id string, enabled bool, reason string) error {
	return a.withStore(cmd, func(ctx context.Context, s *subscriptions.Store) error {
		out, err := s.SetEnabled(ctx, id, enabled, reason, a.operator())
		verb := "enabled"
		if !enabled {
			verb = "disabled"
		}
		return a.printEndpoint(out, err, verb, "")
	})
}

// subscriptionTests returns the test-request settings of each built
// subscriptions sink, for the admin API's endpoint test.
func subscriptionTests(pipelines []router.Pipeline) func(pipeline, sink string) subscriptions.TestOptions {
	opts := map[string]subscriptions.TestOptions{}
	for _, p := range pipelines {
		for _, s := range p.Sinks {
			if t, ok := s.Publisher.(interface {
				TestOptions() subscriptions.TestOptions
			}); ok {
				opts[p.Name+"/"+s.Name] = t.TestOptions()
			}
		}
	}
	return func(pipeline, sink string) subscriptions.TestOptions { return opts[pipeline+"/"+sink] }
}
