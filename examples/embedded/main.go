// Command embedded is the quickstart pipeline (examples/quickstart.yaml)
// composed in Go: a service that embeds Tributary instead of running the
// tributary binary. The pipeline file and this code build the same values —
// router.Pipeline, router.RetryPolicy, middleware.Schedule.
//
//	DATABASE_URL=postgres://… go run ./examples/embedded
//
// The source and sink here are a few lines each so that the example runs on
// its own; in a real service they are the provider packages (sources/etagpoll,
// sources/socketio, sources/batchfeed) and the webhook sink (sinks/webhook).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/migrations"
	"github.com/tributary-dev/tributary/router"
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

	receiver := os.Getenv("TRIBUTARY_RECEIVER_URL")
	if receiver == "" {
		receiver = "http://127.0.0.1:8090/webhook"
	}
	inProcess := middleware.DefaultRetry() // 3 retries, 100 ms … 1 s
	doors := router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "demo", Subscriber: newTicker(time.Second)}},
		Dedup:   router.DedupPolicy{TTL: 7 * 24 * time.Hour},
		Retry: router.RetryPolicy{
			InProcess: &inProcess,
			Schedule:  withJitter(middleware.Exponential(5*time.Second, 10*time.Minute, 8), 0.2),
		},
		Sinks: []router.Sink{{
			Name:      "receiver",
			Publisher: &poster{url: receiver, token: os.Getenv("RECEIVER_TOKEN")},
			// seed 003: 1 min × attempt, 5 retries.
			Retry: &router.RetryPolicy{Schedule: middleware.Linear(time.Minute, 5)},
		}},
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: logger}, doors)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func withJitter(s middleware.Schedule, j float64) middleware.Schedule {
	s.Jitter = j
	return s
}

// ticker is a minimal source: one event per interval with a stable id. A
// source must resend what is nacked and close its channels on Close.
type ticker struct {
	every   time.Duration
	closing chan struct{}
	once    sync.Once
}

func newTicker(every time.Duration) *ticker {
	return &ticker{every: every, closing: make(chan struct{})}
}

func (t *ticker) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for seq := 1; ; seq++ {
			id := fmt.Sprintf("embedded-%06d", seq)
			payload, _ := json.Marshal(map[string]any{"id": id, "type": "door.unlocked", "createdAt": time.Now().UTC()})
			for acked := false; !acked; {
				msg := tributary.NewEventMessage(id, payload)
				msg.Metadata.Set(tributary.MetaEventType, "door.unlocked")
				select {
				case out <- msg:
				case <-ctx.Done():
					return
				case <-t.closing:
					return
				}
				select {
				case <-msg.Acked():
					acked = true
				case <-msg.Nacked(): // resend
				case <-ctx.Done():
					return
				case <-t.closing:
					return
				}
			}
			select {
			case <-time.After(t.every):
			case <-ctx.Done():
				return
			case <-t.closing:
				return
			}
		}
	}()
	return out, nil
}

func (t *ticker) Close() error { t.once.Do(func() { close(t.closing) }); return nil }

// poster is a minimal sink: POST the payload; 4xx is permanent (poisoned at
// once), anything else that fails is retried on the schedule.
type poster struct{ url, token string }

func (p *poster) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		req, err := http.NewRequestWithContext(m.Context(), http.MethodPost, p.url, bytes.NewReader(m.Payload))
		if err != nil {
			return middleware.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tributary-Event-Id", tributary.EventID(m))
		if p.token != "" {
			req.Header.Set("Authorization", "Bearer "+p.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return fmt.Errorf("receiver answered %d", resp.StatusCode)
		default:
			return middleware.Permanent(errors.New("receiver refused: " + resp.Status))
		}
	}
	return nil
}

func (p *poster) Close() error { return nil }
