// Command embedded is the quickstart pipeline (examples/quickstart.yaml)
// composed in Go: a service that embeds Tributary instead of running the
// tributary binary. The pipeline file and this code build the same values —
// router.Pipeline, router.RetryPolicy, middleware.Schedule.
//
//	DATABASE_URL=postgres://… go run ./examples/embedded
//
// The sources are the provider packages, configured as the file configures
// them, reading `tributary simulate` (TRIBUTARY_SIMULATOR_URL, default
// http://127.0.0.1:8090); the sink is sinks/webhook, signing with the same
// secret and sending the same token:
//
//	tributary simulate --receiver-secret whsec_cXVpY2tzdGFydC1zaWduaW5nLWtleS0zMi1ieXRlcyE= \
//	                   --receiver-token quickstart-secret
//
// (The binary also starts a W3C trace per event; that part lives in the
// binary's component wiring and is left out here.)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/migrations"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/batchfeed"
	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/sources/etagpoll"
	"github.com/tributary-dev/tributary/sources/socketio"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "embedded:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := watermill.NewSlogLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil)))

	pool, err := router.OpenPool(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool); err != nil {
		return err
	}

	sim := envOr("TRIBUTARY_SIMULATOR_URL", "http://127.0.0.1:8090")
	receiver := envOr("TRIBUTARY_RECEIVER_URL", sim+"/webhook")

	// An ETag event log, polled; its cursor is checkpointed.
	eventlog, err := etagpoll.NewSource(etagpoll.Config{
		BaseURL:     sim,
		AuthValue:   bearer(os.Getenv("EVENTLOG_TOKEN")),
		Checkpoints: checkpoint.NewStore(pool),
		// Same key as the binary's, so both front ends share the cursor.
		CheckpointKey: "etagpoll/doors/eventlog",
		Interval:      2 * time.Second,
	}, logger)
	if err != nil {
		return err
	}
	sources := []router.Source{{Name: "eventlog", Source: eventlog}}

	// An access-control panel's Socket.IO stream; the token comes from the
	// simulator's token URL and is renewed on invalidToken.
	panel, err := socketio.NewSubscriber(socketio.Config{
		Socket: client.Config{
			URL:     sim,
			Token:   client.TokenConfig{URL: sim + "/socketio/token"},
			Backoff: client.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2},
		},
		Topics: []string{"door.*", "liveEvent"},
	}, logger)
	if err != nil {
		return err
	}
	sources = append(sources, router.Source{Name: "panel", Source: tributary.FromSubscriber(panel, "")})

	// Batch polling feeds: one source per feed, sharing one OAuth2 client.
	tokens := batchfeed.ClientCredentials(ctx, clientcredentials.Config{
		ClientID:     "tributary-quickstart",
		ClientSecret: envOr("FEED_CLIENT_SECRET", "quickstart-feed-secret"),
		TokenURL:     sim + "/oauth2/token",
	}, time.Minute)
	for _, feed := range []string{"journey", "screening"} {
		src, err := batchfeed.NewSource(batchfeed.Config{
			BaseURL: sim, FeedID: feed, TokenSource: tokens,
			TenantID: "bded51d4-598e-4079-9cf6-43e74144b415", PollInterval: 2 * time.Second,
		}, logger)
		if err != nil {
			return err
		}
		sources = append(sources, router.Source{Name: feed, Source: src})
	}

	// A Standard Webhooks receiver: signed, with the receiver's token, every
	// attempt in the delivery log, a 410 Gone kept in Postgres (`tributary
	// endpoints` shows and changes it).
	sink, err := webhook.NewPublisher(webhook.Config{
		URL:         receiver,
		Secrets:     []string{envOr("TRIBUTARY_RECEIVER_SECRET", "whsec_cXVpY2tzdGFydC1zaWduaW5nLWtleS0zMi1ieXRlcyE=")},
		TokenHeader: "Authorization",
		Token:       "Bearer " + envOr("RECEIVER_TOKEN", "quickstart-secret"),
		MetadataHeaders: map[string]string{
			"X-Tributary-Event-Type": tributary.MetaEventType,
			"X-Tributary-Source":     tributary.MetaSource,
		},
		AllowPrivateNetworks: true, // the simulator is on loopback
		Log:                  webhook.NewPostgresLog(pool),
		State:                webhook.NewPostgresEndpoints(pool),
	}, logger)
	if err != nil {
		return err
	}

	inProcess := middleware.DefaultRetry() // 3 retries, 100 ms … 1 s
	doors := router.Pipeline{
		Name:    "doors",
		Sources: sources,
		Dedup:   router.DedupPolicy{TTL: 7 * 24 * time.Hour},
		Retry: router.RetryPolicy{
			InProcess: &inProcess,
			Schedule:  withJitter(middleware.Exponential(5*time.Second, 10*time.Minute, 8), 0.2),
		},
		Sinks: []router.Sink{{
			Name:      "receiver",
			Publisher: sink,
			// 1 min × attempt, 5 retries.
			Retry: &router.RetryPolicy{Schedule: middleware.Linear(time.Minute, 5)},
		}},
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger}, doors)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

func withJitter(s middleware.Schedule, j float64) middleware.Schedule {
	s.Jitter = j
	return s
}
