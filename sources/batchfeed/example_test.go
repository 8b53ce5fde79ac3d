package batchfeed_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/batchfeed"
)

// Several feeds in one pipeline, with OAuth2 client credentials shared by
// all of them (one token, refreshed a minute before it expires).
func Example() {
	ctx := context.Background()
	logger := watermill.NewSlogLogger(slog.Default())
	var pool *pgxpool.Pool // router.OpenPool(ctx, url)
	var sink router.Sink   // where the events go

	tokens := batchfeed.ClientCredentials(ctx, clientcredentials.Config{
		ClientID: "tributary", ClientSecret: "…", TokenURL: "https://identity.example.com/connect/token",
	}, time.Minute)
	p := router.Pipeline{Name: "fenergo", Sinks: []router.Sink{sink}}
	for _, feed := range []string{"journey", "entitydata", "document"} {
		src, err := batchfeed.NewSource(batchfeed.Config{
			BaseURL: "https://api.example.com", FeedID: feed,
			TokenSource: tokens, TenantID: "bded51d4-598e-4079-9cf6-43e74144b415",
			PollInterval: 30 * time.Second,
		}, logger)
		if err != nil {
			panic(err) // a configuration error, e.g. "Journey" for "journey"
		}
		p.Sources = append(p.Sources, router.Source{Name: feed, Source: src})
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger}, p)
	if err != nil {
		panic(err)
	}
	_ = r.Run(ctx)
}

// Emptying a feed is an admin operation: it refuses without Confirm and
// logs who asked and why.
func ExampleClient_DiscardAll() {
	ctx := context.Background()
	c, err := batchfeed.NewClient(batchfeed.Config{BaseURL: "https://api.example.com", FeedID: "screening"}, watermill.NewSlogLogger(nil))
	if err != nil {
		panic(err)
	}
	err = c.DiscardAll(ctx, batchfeed.DiscardAllOptions{Confirm: true, Reason: "feed comes into scope", Operator: "ops@example.com"})
	_ = err
}
