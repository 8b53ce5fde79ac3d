// Package embedding_test holds every Go snippet of docs/embedding.md as
// code that compiles (TestSnippetsCompile checks that each snippet of the
// document is here, or in examples/customsource, word for word), and runs
// the ones that need no database.
package embedding_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/config" // importing it registers the built-in types
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/simulate"
)

// runFile is "Load a pipeline file in your own service".
func runFile(ctx context.Context, pool *pgxpool.Pool, logger watermill.LoggerAdapter) error {
	cfg, err := config.LoadFile("pipeline.yaml") // ${ENV} from the process environment
	if errs, ok := config.AsErrors(err); ok {
		for _, e := range errs { // every problem, in file order
			log.Printf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Msg)
		}
		return err
	}
	if err != nil { // the file could not be read
		return err
	}
	// The file's pipelines as the binary runs them: its backend, leadership
	// among the instances sharing pool, a trace per event, source failures
	// recorded (r.SourceFailures).
	r, err := cfg.NewRouter(pool, router.Config{Logger: logger})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// Loading a file that is not there is an error that names it, not a panic.
func Example_missingFile() {
	err := runFile(context.Background(), nil, nil)
	fmt.Println(err)
	fmt.Println(errors.Is(err, os.ErrNotExist))
	// Output:
	// open pipeline.yaml: no such file or directory
	// true
}

// Config is "Register a source or sink type": the countdown type's options.
type Config struct {
	From     int           `yaml:"from"`
	Interval time.Duration `yaml:"interval"`
}

func (c *Config) Validate() error {
	if c.From <= 0 {
		return tributary.Option("from", "%d: want a positive number", c.From)
	}
	return nil
}

func init() {
	components.RegisterSource("countdown", "counts down from a number",
		func(env components.Env, cfg *Config) (tributary.Source, error) {
			// env.Name is the source's name in the pipeline; env.Pool the
			// database (checkpoints); env.Logger has the pipeline and name.
			return countdown(env.Name, *cfg), nil
		})
	components.RegisterSink("mysink", "POSTs to my system", buildMySink, components.SendHeaders())
}

// countdown hands on From events, each once the one before is stored.
func countdown(name string, cfg Config) tributary.SourceFunc {
	return func(ctx context.Context, emit tributary.Emit) error {
		for n := cfg.From; n > 0; {
			msg := tributary.NewEventMessage(fmt.Sprintf("%s-%d", name, n), []byte(`{}`))
			if emit(ctx, msg) == nil { // stored; else hand the same one on again
				n--
			}
			select {
			case <-time.After(cfg.Interval):
			case <-ctx.Done():
				return nil
			}
		}
		<-ctx.Done()
		return nil
	}
}

type mySink struct{}

func (mySink) Publish(string, ...*message.Message) error { return nil }
func (mySink) Close() error                              { return nil }

func buildMySink(components.Env, *struct{}) (message.Publisher, error) { return mySink{}, nil }

// mountAdmin is "Mount the admin page".
func mountAdmin(ctx context.Context, pool *pgxpool.Pool, reg *prometheus.Registry, mux *http.ServeMux, webhookSecret string) error {
	admin, err := ops.NewAdmin(ops.AdminConfig{
		Pool:      pool,
		Pipelines: []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "eventlog", Type: "etagpoll"}}}},
		Token:     os.Getenv("ADMIN_TOKEN"), // required unless bound to loopback
		Secrets:   []string{webhookSecret},  // never shown on any page
	})
	if err != nil {
		return err
	}
	defer admin.Close()
	go admin.SampleDepths(ctx)
	// The page's links are absolute: serve it at the root of a listener (or a host) of its own.
	go http.ListenAndServe("127.0.0.1:8081", admin.Handler())
	mux.Handle("/metrics", ops.Handler(reg)) // and /healthz, /readyz: ops.Handler serves all three
	<-ctx.Done()
	return nil
}

// simulators is "Simulators in your tests".
func simulators(ctx context.Context) []simulate.DoorEvent {
	log := simulate.NewEventLog(simulate.EventLogConfig{Interval: 50 * time.Millisecond, Seed: 1})
	mux := http.NewServeMux()
	log.Mount(mux)
	srv := httptest.NewServer(mux)
	go log.Run(ctx)
	// point an etagpoll source at srv.URL; log.Events() is what it should deliver
	defer srv.Close()
	return log.Events()
}

var _ = []any{mountAdmin, simulators}
