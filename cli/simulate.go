package cli

import (
	"cmp"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/simulate"
)

func (a *app) simulateCommand() *cobra.Command {
	var cfg simulate.Config
	var allowRemote bool
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Serve fake providers and a webhook receiver on loopback for the quickstart",
		Long: `Serve, on one loopback address, the simulated providers (an ETag event log;
a Socket.IO 2.x access-control panel; batch polling feeds behind OAuth2 client
credentials) and a webhook receiver that prints one line per
delivery and verifies Standard Webhooks signatures when --receiver-secret is set.`,
		Args: cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			logger, err := a.logger()
			if err != nil {
				return err
			}
			// The simulators hand out tokens and default credentials to
			// whoever asks: loopback only, unless asked for in so many words.
			addr, loopback, err := listenAddr("--addr", cfg.Addr)
			if err != nil {
				return err
			}
			if !loopback && !allowRemote {
				return codef(ExitUsage, "--addr %s is not a loopback address: the simulators hand out tokens and default credentials to anyone who can reach them; add --allow-remote to serve them there anyway", cfg.Addr)
			}
			if !loopback {
				logger.Info("Serving the simulators off loopback (--allow-remote): anyone who can reach "+addr+" gets their tokens and default credentials", nil)
			}
			cfg.Addr = addr
			cfg.ReceiverSecret = cmp.Or(cfg.ReceiverSecret, a.getenv("TRIBUTARY_RECEIVER_SECRET"))
			cfg.ReceiverToken = cmp.Or(cfg.ReceiverToken, a.getenv("RECEIVER_TOKEN"))
			cfg.FeedClientSecret = cmp.Or(cfg.FeedClientSecret, a.getenv("FEED_CLIENT_SECRET"))
			if !cmd.Flags().Changed("seed") {
				// Event ids derive from the seed: a fixed default would
				// repeat them on every start, and a pipeline resuming from
				// its database would deduplicate every one of them.
				cfg.Seed = uint64(time.Now().UnixNano())
			}
			cfg.Out, cfg.Logger = a.stdout, logger
			srv, err := simulate.NewServer(cfg)
			if err != nil {
				return codef(ExitUsage, "%v", err)
			}
			fmt.Fprintf(a.stdout, "simulators on %s\n", srv.URL())
			for _, r := range srv.Routes() {
				fmt.Fprintf(a.stdout, "  %s\n", r)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.Run(ctx)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8090", "listen address; loopback only (a bare :port binds 127.0.0.1) unless --allow-remote")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback --addr (the simulators then hand their tokens and default credentials to anyone who can reach them)")
	f.DurationVar(&cfg.EventInterval, "interval", 2*time.Second, "mean time between generated provider events")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the generated events, for reproducible runs (default: from the clock, so ids never repeat)")
	f.StringVar(&cfg.EventLogToken, "eventlog-token", "", "Bearer token the event log requires (empty: none)")
	f.StringVar(&cfg.ReceiverSecret, "receiver-secret", "", "whsec_… secret: verify webhook signatures (default $TRIBUTARY_RECEIVER_SECRET)")
	f.StringVar(&cfg.FeedClientSecret, "feed-client-secret", "", "OAuth2 client secret of the batch feed's token endpoint (default $FEED_CLIENT_SECRET, else "+simulate.FeedClientSecret+")")
	f.StringVar(&cfg.ReceiverToken, "receiver-token", "", "Bearer token the receiver requires (default $RECEIVER_TOKEN)")
	return cmd
}
