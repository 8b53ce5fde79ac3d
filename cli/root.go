// Package cli is the tributary command: run and validate pipeline files,
// operator commands on the database, and the quickstart simulators.
//
// The stock binary is a main that calls Main. A program of your own runs the
// same command line with source and sink types of its own: register them
// with components.RegisterSource / RegisterSink (in an init function or
// before the call), then call Main, or Run for a say in how it exits:
//
//	func main() {
//		components.RegisterSource("mysource", "reads my system", buildMySource)
//		cli.Main()
//	}
package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	_ "github.com/tributary-dev/tributary/components/builtin" // the built-in source and sink types: the stock binary is this command line with them
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/tracing"
)

// app holds the global flags and the output streams of one invocation.
type app struct {
	stdout, stderr io.Writer
	databaseURL    string
	json           bool
	logLevel       string
	getenv         func(string) string
}

// Main runs the command line in os.Args and exits with its exit code. It is
// the whole of the stock binary's main.
func Main() {
	os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Run runs the command line args (without the program name) on the
// process's standard output and error. A failure has been printed there
// already when Run returns it; exit with ExitCode(err). Long-running
// commands (run, simulate) stop on ctx's cancellation, SIGINT or SIGTERM.
func Run(ctx context.Context, args []string) error {
	return runArgs(ctx, args, os.Stdout, os.Stderr)
}

// ExitCode is the process exit code for an error Run returned (ExitOK for
// nil); see the Exit constants.
func ExitCode(err error) int { return codeOf(err) }

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return codeOf(runArgs(ctx, args, stdout, stderr))
}

func runArgs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, "\n") {
			msg = "tributary: " + msg
		}
		fmt.Fprintln(stderr, msg)
	}
	return err
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tributary",
		Short: "Run declarative event pipelines and operate them",
		Long: `Tributary reads events from providers (sources), stores them durably in PostgreSQL,
and delivers them to sinks with dedup, retries and a poison queue.

Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid config, 4 database unavailable or
not migrated, 5 not found, 6 check failed, 7 not supported by the component type,
8 a source stopped for good (run --fail-fast).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       versionLine(buildInfo()),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return codef(ExitUsage, "%v\nSee '%s --help'.", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.databaseURL, "database-url", "", "PostgreSQL URL (default $DATABASE_URL)")
	pf.BoolVar(&a.json, "json", false, "print JSON instead of tables")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")

	root.AddCommand(
		a.runCommand(), a.validateCommand(), a.routeCommand(), a.migrateCommand(), a.poisonCommand(), a.quarantineCommand(),
		a.deliveriesCommand(), a.endpointsCommand(), a.statusCommand(), a.webhookCommand(), a.feedCommand(), a.simulateCommand(), a.typesCommand(), a.versionCommand(),
	)
	return root
}

// wrap makes any error a command returns without a code an ExitFailure, so
// that only the parser's own errors are reported as usage errors.
func wrap(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return withCode(ExitFailure, f(cmd, args))
	}
}

// logger returns the JSON slog logger, through Watermill's adapter.
func (a *app) logger() (watermill.LoggerAdapter, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, codef(ExitUsage, "--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	// Lines logged with a context carrying a span get its trace_id and span_id.
	h := tracing.NewLogHandler(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: humanDurations}))
	return watermill.NewSlogLogger(slog.New(h)), nil
}

// humanDurations writes durations as "5.16s" instead of nanoseconds
// (5159750813) or every digit Duration.String keeps ("5.159750813s"):
// a second or more to the millisecond, a millisecond or more to the
// microsecond.
func humanDurations(_ []string, attr slog.Attr) slog.Attr {
	if attr.Value.Kind() == slog.KindDuration {
		d := attr.Value.Duration()
		switch {
		case d >= time.Second || d <= -time.Second:
			d = d.Round(time.Millisecond)
		case d >= time.Millisecond || d <= -time.Millisecond:
			d = d.Round(time.Microsecond)
		}
		return slog.String(attr.Key, d.String())
	}
	return attr
}

func (a *app) dbURL() (string, error) {
	u := cmp.Or(a.databaseURL, a.getenv("DATABASE_URL"))
	if u == "" {
		return "", codef(ExitDatabase, "no database: set DATABASE_URL or pass --database-url (scripts/quickstart.sh starts a local one)")
	}
	return u, nil
}

// openPool opens and pings the database with maxConns connections, unless
// the URL sets pool_max_conns (which wins); maxConns 0 keeps pgx's default.
func (a *app) openPool(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	u, err := a.dbURL()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, codef(ExitDatabase, "database URL: %v", redactErr(err, u))
	}
	if maxConns > 0 && !strings.Contains(u, "pool_max_conns") {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, codef(ExitDatabase, "database: %v", redactErr(err, u))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, codef(ExitDatabase, "database %s unreachable: %v", redactURL(u), redactErr(err, u))
	}
	return pool, nil
}

// withPool runs f on the database, opened for one command.
func (a *app) withPool(cmd *cobra.Command, f func(ctx context.Context, pool *pgxpool.Pool) error) error {
	pool, err := a.openPool(cmd.Context(), 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	return f(cmd.Context(), pool)
}

// report prints v as JSON with --json, else the line format makes of args.
func (a *app) report(v any, format string, args ...any) error {
	if a.json {
		return printJSON(a.stdout, v)
	}
	fmt.Fprintf(a.stdout, format, args...)
	return nil
}

// redactURL hides the password of a database URL.
func redactURL(u string) string {
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return "(unparsable URL)"
	}
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

func redactErr(err error, u string) error {
	cfg, perr := pgxpool.ParseConfig(u)
	if perr != nil || cfg.ConnConfig.Password == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.ConnConfig.Password, "****"))
}
