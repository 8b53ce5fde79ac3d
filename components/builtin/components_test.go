package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tributary-dev/tributary/components/builtin"
	"github.com/tributary-dev/tributary/sinks/httpsink"
	"github.com/tributary-dev/tributary/sinks/logsink"
	"github.com/tributary-dev/tributary/sources/generator"
	"github.com/tributary-dev/tributary/tributarytest"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	return nil
}

func TestGeneratorResendsNackedAndClosesOnClose(t *testing.T) {
	t.Parallel()
	g := generator.New(generator.Config{Count: 2, Interval: time.Millisecond, Prefix: "p"}, "gen", nil)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := tributarytest.Start(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	ch := r.Messages
	m := next(t, ch)
	if tributary.EventID(m) != "p-000001" || m.Metadata.Get(tributary.MetaEventType) != "door.unlocked" {
		t.Fatalf("first message %v", m.Metadata)
	}
	m.Nack()
	again := next(t, ch)
	if again.UUID != m.UUID {
		t.Fatalf("after a nack got %s, want %s again", again.UUID, m.UUID)
	}
	again.Ack()
	m2 := next(t, ch)
	if tributary.EventID(m2) != "p-000002" {
		t.Fatalf("second message %s", tributary.EventID(m2))
	}
	m2.Ack()
	cancel()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
}

func TestGeneratorClosesOnContextCancel(t *testing.T) {
	t.Parallel()
	g := generator.New(generator.Config{}, "gen", nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := tributarytest.Subscribe(ctx, g)
	next(t, ch) // not acked: the generator waits
	cancel()
	for range ch {
	}
}

type noOptions struct{}

func (noOptions) Decode(any) error { return nil }

// TestGeneratorResumesFromCheckpoint: built from the registry with a pool, a
// generator resumes after the last acked event; restart: true starts over.
func TestGeneratorResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	env := components.Env{Pipeline: "p", Name: "gen", Pool: pool}
	build := func(restart bool) tributary.Source {
		d, err := components.Decode(components.KindSource, "generator", optionsFunc(func(v any) error {
			o := v.(*generator.Config)
			o.Interval, o.Restart = time.Millisecond, restart
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := components.BuildSource(d, env)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	run := func(restart bool) (<-chan *message.Message, *tributarytest.Run) {
		r, err := tributarytest.Start(context.Background(), build(restart))
		if err != nil {
			t.Fatal(err)
		}
		return r.Messages, r
	}
	ch, r := run(false)
	for range 2 {
		next(t, ch).Ack()
	}
	next(t, ch) // third, never acked
	_ = r.Stop()

	ch, r = run(false)
	if id := tributary.EventID(next(t, ch)); id != "gen-000003" {
		t.Fatalf("resumed at %s, want gen-000003", id)
	}
	_ = r.Stop()
	ch, r = run(true)
	if id := tributary.EventID(next(t, ch)); id != "gen-000001" {
		t.Fatalf("restart began at %s, want gen-000001", id)
	}
	_ = r.Stop()
}

type optionsFunc func(v any) error

func (f optionsFunc) Decode(v any) error { return f(v) }

func TestHTTPSinkClassifiesResponses(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("X-Tributary-Event-Id") == "" {
			http.Error(w, "headers missing", http.StatusTeapot)
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/busy":
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "/down":
			http.Error(w, "oops", http.StatusBadGateway)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			http.Error(w, "no such hook", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()

	cases := []struct {
		url        string
		outcome    webhook.Outcome
		permanent  bool
		retryAfter time.Duration
	}{
		{srv.URL + "/ok", webhook.OutcomeSuccess, false, 0},
		{srv.URL + "/busy", webhook.OutcomeTransient, false, 7 * time.Second},
		{srv.URL + "/down", webhook.OutcomeTransient, false, 0},
		{srv.URL + "/moved", webhook.OutcomePermanent, true, 0},
		{srv.URL + "/gone", webhook.OutcomePermanent, true, 0},
		{closed + "/hook?token=SECRET", webhook.OutcomeTransient, false, 0},
	}
	for i, c := range cases {
		sink := httpsink.New(httpsink.Config{URL: c.url, Headers: map[string]string{"Authorization": "Bearer x"}, AllowPrivateNetworks: true},
			"p", "s", pool, nil)
		msg := tributary.NewEventMessage("ev-"+string(rune('a'+i)), []byte(`{}`))
		err := sink.Publish("s", msg)
		_ = sink.Close() // the delivery log is written behind the delivery; Close flushes it
		if (err == nil) != (c.outcome == webhook.OutcomeSuccess) || middleware.IsPermanent(err) != c.permanent {
			t.Errorf("%s: err %v", c.url, err)
		}
		if after, ok := middleware.RetryAfterOf(err); c.retryAfter != 0 && (!ok || after != c.retryAfter) {
			t.Errorf("%s: retry after %v, want %v", c.url, after, c.retryAfter)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error leaks the URL's token: %v", err)
		}
		var outcome, endpoint string
		if err := pool.QueryRow(context.Background(), `SELECT outcome, endpoint FROM tributary_delivery_attempts WHERE event_id = $1`,
			tributary.EventID(msg)).Scan(&outcome, &endpoint); err != nil {
			t.Fatal(err)
		}
		if outcome != string(c.outcome) || strings.Contains(endpoint, "SECRET") {
			t.Errorf("%s: logged %s at %s, want %s", c.url, outcome, endpoint, c.outcome)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	if _, err := components.Decode(components.KindSink, "nope", noOptions{}); !errors.As(err, new(components.ErrUnknownType)) {
		t.Fatalf("unknown type: %v", err)
	}
	if got := strings.Join(components.Types(components.KindSink), ","); !strings.Contains(got, "http") || !strings.Contains(got, "log") {
		t.Fatalf("sink types %v", got)
	}
	if _, err := components.Decode(components.KindSink, "http", noOptions{}); err == nil || !strings.Contains(err.Error(), "url") {
		t.Fatalf("http sink without url validated: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a type twice did not panic")
		}
	}()
	components.RegisterSink("log", "again", func(components.Env, *logsink.Config) (message.Publisher, error) { return nil, nil })
}

func TestTraceparent(t *testing.T) {
	t.Parallel()
	tp := builtin.NewTraceparent()
	if !builtin.ValidTraceparent(tp) || len(builtin.TraceID(tp)) != 32 {
		t.Fatalf("NewTraceparent() = %q", tp)
	}
	for _, bad := range []string{"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"} {
		if builtin.ValidTraceparent(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if !builtin.ValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") {
		t.Error("the W3C example was refused")
	}
	// A later version is read as version 00, its extra fields ignored (W3C).
	if !builtin.ValidTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later") {
		t.Error("a later version was refused")
	}
}

// FuzzValidTraceparent: a header off the wire never panics, and whatever is
// accepted has a trace id (and, in version 00, the exact shape).
func FuzzValidTraceparent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Add("00--")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if builtin.ValidTraceparent(s) && (len(builtin.TraceID(s)) != 32 || strings.HasPrefix(s, "00-") && len(s) != 55) {
			t.Fatalf("accepted %q", s)
		}
	})
}

// TestGeneratorConformance runs the source contract's suite on the
// generator: its events are its sequence, so the events a test asks for are
// the next ids of it.
func TestGeneratorConformance(t *testing.T) {
	t.Parallel()
	tributarytest.TestSource(t, tributarytest.Features{Ordered: true, Restarts: true}, func(t *testing.T) tributarytest.Harness {
		next := 1
		return tributarytest.Harness{
			Source: generator.New(generator.Config{Interval: time.Millisecond, Prefix: "p"}, "gen", nil),
			Publish: func(t *testing.T, n int) []string {
				var ids []string
				for range n {
					ids = append(ids, fmt.Sprintf("p-%06d", next))
					next++
				}
				return ids
			},
		}
	})
}
