package webhookin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

func do(src http.Handler, method, body string) int {
	req := httptest.NewRequest(method, "/hook", strings.NewReader(body))
	req.Header.Set("token", "tok-1234")
	rec := httptest.NewRecorder()
	src.ServeHTTP(rec, req)
	return rec.Code
}

// TestAckNackTimeout drives the subscriber side by hand: 2xx only on ack; a
// nack is redelivered and a later ack still gives 2xx; a subscriber that
// keeps nacking, or never answers, gets the sender a 503.
func TestAckNackTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		consume  func(n int) (ack bool, answer bool)
		want     int
		minTries int32
	}{
		{"ack", func(int) (bool, bool) { return true, true }, 200, 1},
		{"nack then ack", func(n int) (bool, bool) { return n >= 3, true }, 200, 3},
		{"nack forever", func(int) (bool, bool) { return false, true }, 503, 2},
		{"never answered", func(int) (bool, bool) { return false, false }, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newSource(t, webhookin.Config{Token: "tok-1234", AckTimeout: 400 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			msgs, err := src.Subscribe(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			var tries atomic.Int32
			go func() {
				for m := range msgs {
					n := int(tries.Add(1))
					if tributary.EventID(m) != "e1" {
						t.Errorf("event id %q", tributary.EventID(m))
					}
					ack, answer := tt.consume(n)
					switch {
					case !answer:
					case ack:
						m.Ack()
					default:
						m.Nack()
					}
				}
			}()
			if code := do(src, http.MethodPost, `{"id":"e1"}`); code != tt.want {
				t.Fatalf("answered %d, want %d", code, tt.want)
			}
			if tries.Load() < tt.minTries {
				t.Fatalf("%d deliveries, want at least %d", tries.Load(), tt.minTries)
			}
		})
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	src := newSource(t, webhookin.Config{Token: "tok-1234", AckTimeout: 200 * time.Millisecond})
	if code := do(src, http.MethodPost, `{}`); code != 503 {
		t.Fatalf("no subscriber: %d, want 503", code)
	}
	if code := do(src, http.MethodGet, ``); code != 405 {
		t.Fatalf("GET: %d, want 405", code)
	}
	// Cancelling the context closes the channel; a new subscription works.
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := src.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Subscribe(context.Background(), "t"); err == nil {
		t.Fatal("second concurrent Subscribe accepted")
	}
	cancel()
	waitClosed(t, msgs)
	pipelinetest.WaitFor(t, 5*time.Second, "resubscribe", func() bool {
		msgs, err = src.Subscribe(context.Background(), "t")
		return err == nil
	})
	// Close closes it too, and a request waiting for a subscriber gets 503.
	codes := make(chan int)
	go func() { codes <- do(src, http.MethodPost, `{}`) }()
	m := <-msgs // taken but never acked
	_ = m
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, msgs)
	if code := <-codes; code != 503 {
		t.Fatalf("unacked at close: %d", code)
	}
	if code := do(src, http.MethodPost, `{}`); code != 503 {
		t.Fatalf("after Close: %d", code)
	}
	if _, err := src.Subscribe(context.Background(), "t"); err == nil {
		t.Fatal("Subscribe after Close accepted")
	}
}

func waitClosed(t *testing.T, msgs <-chan *message.Message) {
	t.Helper()
	select {
	case _, ok := <-msgs:
		if ok {
			t.Fatal("unexpected message")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  webhookin.Config
		want string
	}{
		{webhookin.Config{}, "anyone could inject"},
		{webhookin.Config{AllowUnauthenticated: true}, ""},
		{webhookin.Config{BasicAuth: &webhookin.BasicAuth{Username: "u"}}, "basic_auth.password: is required"},
		{webhookin.Config{Secrets: []string{"whsec_%%%"}}, "whsec_"},
	} {
		_, err := webhookin.NewSource(tt.cfg, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
