package webhook_test

import (
	"context"
	"github.com/tributary-dev/tributary"
	"log"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// Receive a provider's webhooks (Basic auth) and forward every event to a CRM
// as a signed PUT per event, retried on the Standard Webhooks schedule.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://localhost/tributary")
	if err != nil {
		log.Fatal(err)
	}
	in, err := webhookin.NewSource(webhookin.Config{
		BasicAuth: &webhookin.BasicAuth{Username: "provider", Password: "from-your-secret-store"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	crm, err := webhook.NewPublisher(webhook.Config{
		URL:       "https://crm.example.com/door-events/{id}",
		Method:    http.MethodPut,
		Token:     "from-your-secret-store",
		Secrets:   []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		RateLimit: 50,
		Log:       webhook.NewPostgresLog(pool),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if res := crm.Test(ctx); !res.Verified {
		log.Printf("CRM endpoint not verified: %s", res.Reason)
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "doors-in", Source: tributary.FromSubscriber(in, "doors-in")}},
		// The sink's retry schedule is the router's, set here only.
		Sinks: []router.Sink{{Name: "crm", Publisher: crm, Retry: &router.RetryPolicy{Schedule: middleware.StandardSchedule()}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/doors", in)
	go func() { log.Fatal(http.ListenAndServe(":8080", mux)) }()
	go func() {
		// Keep 30 days of delivery attempts.
		for range time.Tick(time.Hour) {
			_, _ = webhook.NewPostgresLog(pool).Prune(ctx, 30*24*time.Hour)
		}
	}()
	log.Fatal(r.Run(ctx))
}
