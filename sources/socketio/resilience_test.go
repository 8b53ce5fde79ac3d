package socketio_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// Token renewal: the server rotates the token, events are held behind
// invalidToken, the client fetches a new token and sends renewedToken, and
// the held events arrive. No token shows in logs, status or metrics.
func TestTokenRenewalReplaysHeldEvents(t *testing.T) {
	t.Parallel()
	const first, second = "tok-first-5d1e0c", "tok-second-93ab77"
	srv, url := startServer(t, socketiotest.Config{Token: first})
	var calls atomic.Int32
	cfg := fastSocket(url)
	cfg.TokenProvider = client.TokenFunc(func(context.Context) (string, error) {
		if calls.Add(1) == 1 {
			return first, nil
		}
		return second, nil
	})
	logger, logs := newLogger()
	sub, ch := subscribe(t, socketio.Config{Socket: cfg}, logger)
	got := collect(t, ch)
	waitJoined(t, srv, "/", 1)

	srv.RotateToken(second)
	for i := 0; i < 3; i++ {
		srv.Emit("/", "door.request.allowed", socketiotest.SampleEvent("door.request.allowed", socketiotest.Door{ID: 1}, time.Now(), i))
	}
	pipelinetest.WaitFor(t, 5*time.Second, "the held events after renewal", func() bool { return got.len() == 3 })
	if calls.Load() != 2 {
		t.Fatalf("token provider called %d times, want 2 (connect, renewal)", calls.Load())
	}
	if sub.Status().Connects != 1 {
		t.Fatalf("renewal reconnected: %+v", sub.Status())
	}
	// A later reconnect dials with the renewed token.
	srv.Drop()
	pipelinetest.WaitFor(t, 5*time.Second, "reconnect", func() bool { return sub.Status().Connects == 2 })
	dials := srv.DialTokens()
	if dials[len(dials)-1] != second {
		t.Fatalf("reconnect dialled with the old token")
	}
	assertNoSecrets(t, logs.String()+fmt.Sprintf("%+v", sub.Status())+metricsText(t), first, second)
	if !strings.Contains(logs.String(), "Token renewed") {
		t.Fatalf("renewal not logged:\n%s", logs)
	}
}

// A handshake refused for the token makes the client fetch a fresh one.
func TestRefusedHandshakeFetchesANewToken(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, socketiotest.Config{Token: "good-token-77"})
	var calls atomic.Int32
	cfg := fastSocket(url)
	cfg.TokenProvider = client.TokenFunc(func(context.Context) (string, error) {
		if calls.Add(1) == 1 {
			return "stale-token-11", nil
		}
		return "good-token-77", nil
	})
	sub, _ := subscribe(t, socketio.Config{Socket: cfg}, nil)
	pipelinetest.WaitFor(t, 5*time.Second, "connected with the fresh token", func() bool { return sub.Status().State == client.StateConnected })
	st := sub.Status()
	if !strings.Contains(st.LastError, "Authentication error") || strings.Contains(st.LastError, "stale-token-11") {
		t.Fatalf("last error %q: want the refusal, without the token", st.LastError)
	}
}

func TestTokenProvidersFromConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "token.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '  cmd-token-1  '\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/plain" {
			fmt.Fprint(w, "plain-token-2\n")
			return
		}
		fmt.Fprint(w, `{"token":"json-token-3","expiresIn":3600}`)
	}))
	t.Cleanup(hs.Close)
	hdr := map[string]string{"X-Api-Key": "k"}
	tests := []struct {
		name    string
		cfg     client.TokenConfig
		want    string
		wantErr bool
	}{
		{name: "static", cfg: client.TokenConfig{Static: "static-token-0"}, want: "static-token-0"},
		{name: "command", cfg: client.TokenConfig{Command: []string{script}}, want: "cmd-token-1"},
		{name: "command fails", cfg: client.TokenConfig{Command: []string{"/bin/false"}}, wantErr: true},
		{name: "http plain", cfg: client.TokenConfig{URL: hs.URL + "/plain", Headers: hdr}, want: "plain-token-2"},
		{name: "http json", cfg: client.TokenConfig{URL: hs.URL + "/json", Headers: hdr}, want: "json-token-3"},
		{name: "http json other field", cfg: client.TokenConfig{URL: hs.URL + "/json", Headers: hdr, Field: "access_token"}, wantErr: true},
		{name: "http 401", cfg: client.TokenConfig{URL: hs.URL + "/json"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startServer(t, socketiotest.Config{})
			cfg := fastSocket(url)
			cfg.Token = tt.cfg
			sub, _ := subscribe(t, socketio.Config{Socket: cfg}, nil)
			if tt.wantErr {
				pipelinetest.WaitFor(t, 5*time.Second, "a token error", func() bool { return strings.Contains(sub.Status().LastError, "token") })
				if srv.Clients() != 0 {
					t.Fatal("connected without a token")
				}
				return
			}
			waitJoined(t, srv, "/", 1)
			if d := srv.DialTokens(); d[0] != tt.want {
				t.Fatalf("dialled with token %q, want %q", d[0], tt.want)
			}
		})
	}
	if err := (socketio.Config{Socket: client.Config{URL: "ws://x", Token: client.TokenConfig{Static: "a", URL: "http://b"}}}).Validate(); err == nil {
		t.Fatal("two token sources accepted")
	}
}

// Every way a connection can end leads to a clear, counted error and a
// reconnect; events flow again afterwards.
func TestReconnectsAfterFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   string
		break_ func(*socketiotest.Server)
		heal   func(*socketiotest.Server)
		want   string
	}{
		{name: "drop", kind: "read", break_: (*socketiotest.Server).Drop, want: "EOF"},
		{name: "server close", kind: "server_close", break_: (*socketiotest.Server).CloseServerSide, want: "server closed the connection"},
		{name: "engine.io close packet", kind: "server_close", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte("1")) }, want: "Engine.IO close packet"},
		{name: "namespace disconnect", kind: "server_close", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte("41")) }, want: "disconnected by the server"},
		{name: "missed pong", kind: "pong_timeout", break_: func(s *socketiotest.Server) { s.IgnorePings(true) }, heal: func(s *socketiotest.Server) { s.IgnorePings(false) }, want: "no pong within pingTimeout"},
		{name: "unknown engine.io type", kind: "unknown_packet", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte("9oops")) }, want: "unknown packet type"},
		{name: "unknown socket.io type", kind: "unknown_packet", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte("48")) }, want: "unknown packet type"},
		{name: "malformed json", kind: "malformed", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte(`42["door.alarm.forced",{"topic":`)) }, want: "not valid JSON"},
		{name: "event not an array", kind: "malformed", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte(`42{"a":1}`)) }, want: "must be a JSON array"},
		{name: "binary event", kind: "binary", break_: func(s *socketiotest.Server) {
			s.EmitRaw([]byte(`451-["door.alarm.forced",{"_placeholder":true,"num":0}]`))
		}, want: "binary packets are not supported"},
		{name: "binary frame", kind: "binary", break_: func(s *socketiotest.Server) { s.EmitBinary([]byte{4, 1, 2, 3}) }, want: "binary packets are not supported"},
		{name: "oversized frame", kind: "frame_too_large", break_: func(s *socketiotest.Server) { s.Emit("/", "big", strings.Repeat("x", 5000)) }, want: "frame exceeds MaxFrameBytes"},
		{name: "second open packet", kind: "unknown_packet", break_: func(s *socketiotest.Server) { s.EmitRaw([]byte(`0{"sid":"x","pingInterval":1,"pingTimeout":1}`)) }, want: "unexpected open packet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startServer(t, socketiotest.Config{})
			cfg := fastSocket(url)
			cfg.MaxFrameBytes = 4096
			logger, logs := newLogger()
			sub, ch := subscribe(t, socketio.Config{Socket: cfg}, logger)
			got := collect(t, ch)
			waitJoined(t, srv, "/", 1)
			tt.break_(srv)
			pipelinetest.WaitFor(t, 5*time.Second, "the failure to be seen", func() bool { return sub.Status().LastError != "" })
			if tt.heal != nil {
				tt.heal(srv)
			}
			pipelinetest.WaitFor(t, 5*time.Second, "a reconnect", func() bool {
				st := sub.Status()
				return st.Connects >= 2 && st.State == client.StateConnected
			})
			st := sub.Status()
			if !strings.Contains(st.LastError, tt.want) {
				t.Fatalf("last error %q, want it to mention %q", st.LastError, tt.want)
			}
			if st.Reconnects < 1 {
				t.Fatalf("status %+v: no reconnect counted", st)
			}
			if !strings.Contains(logs.String(), "reconnecting") {
				t.Fatal("the failure was not logged")
			}
			if m := metricsText(t); !strings.Contains(m, `tributary_socketio_reconnects_total{pipeline="test",source="`+sub.Client().Name()+`"}`) ||
				!strings.Contains(m, `tributary_source_errors_total{kind="`+tt.kind+`",pipeline="test",source="`+sub.Client().Name()+`"}`) {
				t.Fatalf("the failure was not counted in metrics as kind %s", tt.kind)
			}
			waitJoined(t, srv, "/", 1)
			srv.Emit("/", "door.forceclose.on", socketiotest.SampleEvent("door.forceclose.on", socketiotest.Door{ID: 1}, time.Now(), 0))
			pipelinetest.WaitFor(t, 5*time.Second, "an event after the reconnect", func() bool { return got.types()["door.forceclose.on"] == 1 })
		})
	}
}

// A server that accepts the WebSocket but never sends the open packet.
func TestNoOpenPacket(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	srv.SilentOpen(true)
	socket := fastSocket(url)
	socket.OpenTimeout = 300 * time.Millisecond // the timeout is what this test waits for
	sub, _ := subscribe(t, socketio.Config{Socket: socket}, nil)
	pipelinetest.WaitFor(t, 5*time.Second, "a no-open error", func() bool { return strings.Contains(sub.Status().LastError, "no Engine.IO open packet") })
	pipelinetest.WaitFor(t, 5*time.Second, "retries", func() bool { return sub.Status().Reconnects >= 2 })
	srv.SilentOpen(false)
	pipelinetest.WaitFor(t, 5*time.Second, "connected once the server behaves", func() bool { return sub.Status().State == client.StateConnected })
}

// The client pings every pingInterval (EIO 3: client pings, server pongs).
func TestClientPings(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{PingInterval: 30 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	sub, _ := subscribe(t, socketio.Config{Socket: fastSocket(url)}, nil)
	waitJoined(t, srv, "/", 1)
	pipelinetest.WaitFor(t, 5*time.Second, "five pings", func() bool { return srv.Pings() >= 5 })
	if st := sub.Status(); st.Connects != 1 {
		t.Fatalf("reconnected while pongs were answered: %+v", st)
	}
}

// A dial error carries the URL; the token in it must not show.
func TestDialErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close() // nothing listens there now
	cfg := fastSocket(url + "/socket.io/?token=secret-in-url-42")
	logger, logs := newLogger()
	sub, _ := subscribe(t, socketio.Config{Socket: cfg}, logger)
	pipelinetest.WaitFor(t, 5*time.Second, "dial errors", func() bool { return sub.Status().Reconnects >= 2 })
	st := sub.Status()
	if !strings.Contains(st.LastError, "dial failed") {
		t.Fatalf("last error %q", st.LastError)
	}
	assertNoSecrets(t, logs.String()+st.LastError+metricsText(t), "secret-in-url-42")
	if !strings.Contains(logs.String(), "REDACTED") {
		t.Fatalf("expected the redacted URL in the logs:\n%s", logs)
	}
}

func TestJSONMode(t *testing.T) {
	t.Parallel()
	frames := make(chan string, 16)
	var dials atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "json-secret" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		dials.Add(1)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(r.Context())
		for {
			select {
			case f := <-frames:
				if err := c.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}))
	t.Cleanup(hs.Close)
	cfg := fastSocket(strings.Replace(hs.URL, "http", "ws", 1) + "/stream")
	cfg.Mode = client.ModeJSON
	cfg.Token.Static = "json-secret"
	cfg.PingInterval = 20 * time.Millisecond
	cfg.PingTimeout = time.Second
	logger, logs := newLogger()
	sub, ch := subscribe(t, socketio.Config{Socket: cfg}, logger)
	got := collect(t, ch)
	pipelinetest.WaitFor(t, 5*time.Second, "connected", func() bool { return sub.Status().State == client.StateConnected })
	frames <- `{"id":"e1","topic":"door.request.allowed","body":{"doorId":1},"occurred":"2023-05-03 19:04:55"}`
	frames <- `{"topic":"door.alarm.forced","body":{"doorId":1},"occurred":"2023-05-03 19:04:56"}`
	pipelinetest.WaitFor(t, 5*time.Second, "two events", func() bool { return got.len() == 2 })
	frames <- `{"topic":` // malformed: error and reconnect
	pipelinetest.WaitFor(t, 5*time.Second, "reconnect after malformed JSON", func() bool { return sub.Status().Connects == 2 })
	if !strings.Contains(sub.Status().LastError, "malformed") {
		t.Fatalf("last error %q", sub.Status().LastError)
	}
	frames <- `{"topic":"door.alarm.forced.cleared","body":{"doorId":1}}`
	pipelinetest.WaitFor(t, 5*time.Second, "the event after reconnect", func() bool { return got.len() == 3 })
	ms := got.all()
	if ms[0].Metadata.Get("tributary_event_id") != "e1" || !strings.HasPrefix(ms[1].Metadata.Get("tributary_event_id"), "sha256:") {
		t.Fatalf("ids %q %q", ms[0].Metadata.Get("tributary_event_id"), ms[1].Metadata.Get("tributary_event_id"))
	}
	assertNoSecrets(t, logs.String(), "json-secret")
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	t.Parallel()
	b := client.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	for n, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 9: time.Second} {
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := b.Delay(n)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("Delay(%d) = %s, want %s ±20%%", n, d, base)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("Delay(%d) barely varies: %d distinct values", n, len(seen))
		}
	}
}

func TestCloseEndsSubscription(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	for _, viaCtx := range []bool{false, true} {
		sub, err := socketio.NewSubscriber(socketio.Config{Socket: fastSocket(url)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := sub.Subscribe(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		pipelinetest.WaitFor(t, 5*time.Second, "connected", func() bool { return sub.Status().State == client.StateConnected })
		if viaCtx {
			cancel()
		} else {
			_ = sub.Close()
		}
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatal("unexpected message")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("channel not closed (viaCtx=%v)", viaCtx)
		}
		cancel()
		_ = sub.Close()
		if st := sub.Status(); st.State != client.StateClosed && !viaCtx {
			t.Fatalf("state %s after Close", st.State)
		}
	}
	_ = srv
	if _, err := socketio.NewSubscriber(socketio.Config{Socket: client.Config{URL: "ftp://x"}}, nil); err == nil || errors.Is(err, nil) {
		if err == nil {
			t.Fatal("ftp URL accepted")
		}
	}
}

func assertNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Fatalf("secret %q leaked: …%s…", s, text[max(0, i-200):min(len(text), i+50)])
		}
	}
}
