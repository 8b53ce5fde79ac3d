package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/migrations"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
)

func (a *app) loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, codef(ExitUsage, "-c/--config is required")
	}
	cfg, err := config.LoadFile(path)
	if err == nil {
		return cfg, nil
	}
	if _, ok := config.AsErrors(err); ok {
		return nil, codef(ExitConfig, "%s: invalid:\n%w", path, err)
	}
	// The file could not be read: not a verdict on its contents.
	if errors.Is(err, fs.ErrNotExist) {
		return nil, codef(ExitNotFound, "%s: no such file", path)
	}
	return nil, codef(ExitConfig, "%s: cannot read: %v", path, errors.Unwrap(err))
}

// backendLabel says where the topics live, for the console, without the
// credentials a NATS URL may hold.
func backendLabel(b router.BackendConfig) string {
	if b.Type != router.BackendJetStream {
		return "PostgreSQL (tables of the database)"
	}
	if u, err := url.Parse(b.URL); err == nil && u.Host != "" {
		return "NATS JetStream at " + u.Host
	}
	return "NATS JetStream"
}

func (a *app) validateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -c pipeline.yaml",
		Short: "Check a pipeline file without running it (exit 3 when invalid, 5 when missing)",
		Args:  cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(file)
			if err != nil {
				if a.json {
					es, positioned := config.AsErrors(err)
					if !positioned {
						es = config.Errors{{File: file, Msg: err.Error()}}
					}
					_ = printJSON(a.stdout, map[string]any{"ok": false, "errors": es})
					if positioned {
						return &exitError{code: ExitConfig, err: fmt.Errorf("%s: invalid (%s)", file, plural(len(es), "problem"))}
					}
				}
				return err
			}
			names := make([]string, len(cfg.Pipelines))
			for i, p := range cfg.Pipelines {
				names[i] = p.Template.Name
			}
			return a.report(map[string]any{"ok": true, "pipelines": names}, "%s: ok (%s: %s)\n", file, plural(len(names), "pipeline"), strings.Join(names, ", "))
		}),
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "pipeline file (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func (a *app) runCommand() *cobra.Command {
	var (
		file, adminAddr, adminToken, metricsAddr, instanceID, otlpEndpoint string
		migrate, failFast                                                  bool
		depthInterval, leaseTTL                                            time.Duration
		adminHosts                                                         []string
	)
	cmd := &cobra.Command{
		Use:   "run -c pipeline.yaml",
		Short: "Run every pipeline in a file until interrupted",
		Long: `Run every pipeline in a file until SIGINT or SIGTERM; in-flight deliveries get 30 s to finish.

The database must be migrated: run exits 4 naming the missing migrations unless
--migrate applies them first.

Serves /metrics, /healthz and /readyz on --metrics-addr, and the admin page on --admin.
With --otlp-endpoint (or $OTEL_EXPORTER_OTLP_ENDPOINT) it exports a span per ingest
and per delivery attempt, in the trace each event's traceparent names.
The admin page binds to loopback unless an address is given; a non-loopback address
requires --admin-token (or $TRIBUTARY_ADMIN_TOKEN).

A source that stops for good (e.g. a batch feed whose feed id answers 404) is
reported failed in /readyz, tributary_source_up and the admin page while the
rest runs on; with --fail-fast, run stops and exits 8 instead.

Several instances may run the same file on one database (for availability and
rolling deploys): each source runs in exactly one instance at a time (its
leader, holding a lease renewed every --lease-ttl/3), sources are spread over
the instances, and when an instance dies another takes its sources over within
--lease-ttl plus a third of it, from their checkpoints. Sinks share their
consumer groups; inbound webhooks (webhookin) are served by every instance.
See docs/deployment.md and ` + "`tributary status`" + `.`,
		Args: cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			adminToken = cmp.Or(adminToken, a.getenv("TRIBUTARY_ADMIN_TOKEN"))
			adminAddr, err := adminListenAddr(adminAddr, adminToken)
			if err != nil {
				return err
			}
			cfg, err := a.loadConfig(file)
			if err != nil {
				return err
			}
			logger, err := a.logger()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// A stop signal while starting is a clean stop: nothing was read
			// from any provider yet, so nothing is lost.
			startup := func(err error) error {
				if ctx.Err() != nil {
					logger.Info("Stopped while starting", nil)
					return nil
				}
				return err
			}
			instanceID = cmp.Or(instanceID, a.getenv("TRIBUTARY_INSTANCE_ID"))
			templates := make([]router.Pipeline, len(cfg.Pipelines))
			for i, p := range cfg.Pipelines {
				templates[i] = p.Template
			}
			pool, err := a.openPool(ctx, router.PoolSize(templates...))
			if err != nil {
				return startup(err)
			}
			defer pool.Close()
			if migrate {
				if _, err := migrations.Up(ctx, pool); err != nil {
					return startup(dbError(err))
				}
			}
			// Before anything touches a table: a missing one would fail every
			// event over and over instead of once, here.
			if err := checkSchema(ctx, pool); err != nil {
				return startup(err)
			}
			// The binary's own registry: what the library registers goes
			// here, never to Prometheus's default registry.
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			tp, shutdownTracing, err := a.tracerProvider(ctx, a.otlpTracesURL(otlpEndpoint))
			if err != nil {
				return err
			}
			defer func() {
				// Spans still batched are sent before exit.
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := shutdownTracing(sctx); err != nil {
					logger.Error("Exporting the last spans failed", err, nil)
				}
			}()
			// The file's pipelines as the library runs them: its backend,
			// leadership, trace start and source state (config.NewRouter).
			r, err := cfg.NewRouter(pool, router.Config{Logger: logger, Metrics: reg, TracerProvider: tp,
				Leadership: &router.Leadership{Instance: instanceID, TTL: leaseTTL}})
			if err != nil {
				return codef(ExitConfig, "%v", err)
			}
			infos := pipelineInfos(cfg)
			if js, ok := r.Backend().(*router.JetStreamBackend); ok {
				for i := range infos {
					infos[i].Depth = js.SinkDepth
				}
			}

			var servers []*http.Server
			serve := func(name, addr string, h http.Handler) error {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return codef(ExitUsage, "%s: listen on %s: %v", name, addr, err)
				}
				srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
				servers = append(servers, srv)
				go func() { _ = srv.Serve(ln) }()
				logger.Info("Serving "+name, map[string]any{"addr": "http://" + ln.Addr().String()})
				return nil
			}
			defer func() {
				for _, s := range servers {
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = s.Shutdown(sctx)
					cancel()
				}
			}()
			if metricsAddr != "" {
				checks := append([]ops.Check{
					{Name: "router", Check: func(context.Context) error {
						select {
						case <-r.Running():
							return nil
						default:
							return errors.New("not running")
						}
					}},
					{Name: "database", Check: func(ctx context.Context) error { return pool.Ping(ctx) }},
				}, ops.SourceChecks(r, infos)...)
				h := ops.Handler(reg, checks...)
				if err := serve("metrics and health", metricsAddr, h); err != nil {
					return err
				}
			}
			if adminAddr != "" {
				adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Pipelines: infos, Token: adminToken, AllowedHosts: adminHosts, Logger: logger, Sources: r, Gatherer: reg,
					Instance: r.InstanceID, Secrets: adminSecrets(os.Environ()), Poison: cfg.PoisonQueue(pool),
					SubscriptionTests: subscriptionTests(r.Pipelines()), Backend: backendLabel(cfg.Backend)})
				if err != nil {
					return err
				}
				go adm.SampleDepths(ctx)
				// Runs before the servers' Shutdown (deferred earlier): it
				// ends the live page's streams, which Shutdown waits for.
				defer func() { _ = adm.Close() }()
				if err := serve("admin page", adminAddr, adm.Handler()); err != nil {
					return err
				}
			}
			go ops.WatchDepths(ctx, reg, pool, infos, depthInterval, logger)
			runCtx, stopRun := context.WithCancel(ctx)
			defer stopRun()
			if failFast {
				go func() {
					select {
					case <-r.SourceFailed():
						logger.Info("A source failed and --fail-fast is set: stopping", nil)
						stopRun()
					case <-runCtx.Done():
					}
				}()
			}
			logger.Info("Running pipelines", map[string]any{"file": file, "pipelines": len(r.Pipelines())})
			err = r.Run(runCtx)
			if fs := r.SourceFailures(); failFast && len(fs) > 0 {
				f := fs[0]
				typ := ""
				if p, i, err := cfg.FindSource(f.Pipeline, f.Source); err == nil {
					typ = p.SourceTypes[i].Type
				}
				return codef(ExitSourceFailed, "source %q of pipeline %q (%s) stopped for good: %s (--fail-fast)", f.Source, f.Pipeline, typ, f.Reason)
			}
			if err != nil {
				return withCode(ExitFailure, err)
			}
			logger.Info("Stopped", nil)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&file, "config", "c", "", "pipeline file (required)")
	f.StringVar(&adminAddr, "admin", "", "serve the admin page on this address (e.g. 127.0.0.1:8081; a bare :8081 binds loopback)")
	f.StringSliceVar(&adminHosts, "admin-allowed-host", nil, "host name the admin page is also served under (repeatable; default: loopback names and IP addresses only, which stops DNS rebinding)")
	f.StringVar(&adminToken, "admin-token", "", "token the admin page requires (default $TRIBUTARY_ADMIN_TOKEN; required off loopback)")
	f.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "serve /metrics, /healthz and /readyz here (empty: off)")
	f.BoolVar(&migrate, "migrate", false, "apply database migrations before starting")
	f.StringVar(&otlpEndpoint, "otlp-endpoint", "", "export trace spans over OTLP/HTTP to this URL, e.g. http://127.0.0.1:4318/v1/traces (default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else $OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces; none: tracing off)")
	f.BoolVar(&failFast, "fail-fast", false, "exit 8 when a source stops for good, instead of running on with it failed in /readyz")
	f.DurationVar(&depthInterval, "depth-interval", 5*time.Second, "how often queue-depth gauges are refreshed")
	f.StringVar(&instanceID, "instance-id", "", "this instance's id among those sharing the database (default $TRIBUTARY_INSTANCE_ID, else host-pid-random); unique per process")
	f.DurationVar(&leaseTTL, "lease-ttl", 15*time.Second, "source lease TTL: a dead instance's sources are taken over within this plus a third of it, and start a quarter of it later (at least 1s)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// adminListenAddr applies the loopback rule: a bare :port binds 127.0.0.1;
// any other non-loopback host requires a token.
func adminListenAddr(addr, token string) (string, error) {
	if addr == "" {
		return "", nil
	}
	addr, loopback, err := listenAddr("--admin", addr)
	if err != nil {
		return "", err
	}
	if !loopback && token == "" {
		return "", codef(ExitUsage, "--admin %s is not a loopback address: set --admin-token or $TRIBUTARY_ADMIN_TOKEN", addr)
	}
	return addr, nil
}

// listenAddr reads flag's host:port: a bare :port is 127.0.0.1:port (never
// every interface by accident); loopback reports whether the host is
// loopback ("localhost" or a loopback address).
func listenAddr(flag, addr string) (_ string, loopback bool, _ error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, codef(ExitUsage, "%s %q: want host:port, e.g. 127.0.0.1:8081", flag, addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	return net.JoinHostPort(host, port), host == "localhost" || ip != nil && ip.IsLoopback(), nil
}

func pipelineInfos(cfg *config.Config) []ops.PipelineInfo {
	var out []ops.PipelineInfo
	for _, p := range cfg.Pipelines {
		info := ops.PipelineInfo{Name: p.Template.Name}
		for i, s := range p.Template.Sources {
			info.Sources = append(info.Sources, ops.ComponentInfo{Name: s.Name, Type: p.SourceTypes[i].Type})
		}
		for i, s := range p.Template.Sinks {
			info.Sinks = append(info.Sinks, ops.ComponentInfo{Name: s.Name, Type: p.SinkTypes[i].Type, Routing: routingSummary(p.SinkRoutes[i])})
		}
		out = append(out, info)
	}
	return out
}
