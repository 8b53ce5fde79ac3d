package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
)

// The client against internal/socketiotest, a Socket.IO 2.x server over
// loopback WebSockets whose knobs inject what a real panel does wrong.

// recorder collects the events a client hands on.
type recorder struct {
	mu     sync.Mutex
	events []client.Event
}

func (r *recorder) handle(_ context.Context, ev client.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, ev := range r.events {
		out[i] = ev.Name
	}
	return out
}

func (r *recorder) has(name string) bool {
	for _, n := range r.names() {
		if n == name {
			return true
		}
	}
	return false
}

func serve(t *testing.T, cfg socketiotest.Config) (*socketiotest.Server, string) {
	t.Helper()
	s := socketiotest.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// start connects a client with cfg (fast backoff unless set) and returns it
// with what it received.
func start(t *testing.T, cfg client.Config) (*client.Client, *recorder) {
	t.Helper()
	if cfg.Backoff == (client.Backoff{}) {
		cfg.Backoff = client.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: -1}
	}
	c, err := client.NewClient(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c.OnEvent(rec.handle)
	c.Start()
	t.Cleanup(func() { _ = c.Close() })
	return c, rec
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func connected(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("not connected: %v (%+v)", err, c.Status())
	}
}

// TestEventsArrive: events on the client's namespace arrive whole (name,
// first argument as Data, every argument), those of other namespaces do
// not, and Status tells the session.
func TestEventsArrive(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{})
	c, rec := start(t, client.Config{URL: url, Namespace: "/panel"})
	connected(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitClients(ctx, "/panel", 1); err != nil {
		t.Fatal(err)
	}
	s.Emit("/", "door.elsewhere", map[string]int{"doorId": 9})
	s.Emit("/panel", "door.opened", map[string]any{"doorId": 1, "name": "Front é"})
	waitFor(t, "door.opened", func() bool { return rec.has("door.opened") })
	if rec.has("door.elsewhere") {
		t.Error("an event of another namespace was handed on")
	}
	rec.mu.Lock()
	ev := rec.events[0]
	rec.mu.Unlock()
	var body map[string]any
	if err := json.Unmarshal(ev.Data, &body); err != nil || body["name"] != "Front é" || len(ev.Args) != 1 || ev.Namespace != "/panel" {
		t.Fatalf("event %+v (%v)", ev, err)
	}
	st := c.Status()
	if st.State != client.StateConnected || st.SessionID == "" || st.Connects != 1 || st.LastEventAt.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

// TestBadFramesReconnect: a malformed event, an unknown packet and a
// binary frame each end the connection with a clear error (never a panic,
// never a silent drop of what follows): the client reconnects and the next
// event arrives.
func TestBadFramesReconnect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		inject func(*socketiotest.Server)
		want   string
	}{
		{"event name not a string", func(s *socketiotest.Server) { s.EmitRaw([]byte(`42[1,{}]`)) }, "not a string"},
		{"event not JSON", func(s *socketiotest.Server) { s.EmitRaw([]byte(`42["a",`)) }, "malformed"},
		{"unknown engine.io type", func(s *socketiotest.Server) { s.EmitRaw([]byte(`9zz`)) }, ""},
		{"open after the handshake", func(s *socketiotest.Server) { s.EmitRaw([]byte(`0{}`)) }, "unexpected"},
		{"binary frame", func(s *socketiotest.Server) { s.EmitBinary([]byte{4, 1, 2}) }, "binary"},
		{"server error packet", func(s *socketiotest.Server) { s.EmitRaw([]byte(`44"Not authorized"`)) }, "Not authorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, url := serve(t, socketiotest.Config{})
			c, rec := start(t, client.Config{URL: url})
			connected(t, c)
			tt.inject(s)
			waitFor(t, "a reconnect", func() bool { st := c.Status(); return st.Connects >= 2 && st.State == client.StateConnected })
			if st := c.Status(); !strings.Contains(strings.ToLower(st.LastError), strings.ToLower(tt.want)) {
				t.Errorf("last error %q, want it to say %q", st.LastError, tt.want)
			}
			s.Emit("/", "after", map[string]int{"n": 1})
			waitFor(t, "the next event", func() bool { return rec.has("after") })
		})
	}
}

// TestOversizedFrameRefused: a frame over MaxFrameBytes ends the connection
// with ErrFrameTooLarge's text; smaller events around it still arrive.
func TestOversizedFrameRefused(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{})
	c, rec := start(t, client.Config{URL: url, MaxFrameBytes: 1024})
	connected(t, c)
	s.Emit("/", "big", map[string]string{"pad": strings.Repeat("x", 4096)})
	waitFor(t, "a reconnect", func() bool { return c.Status().Connects >= 2 })
	if st := c.Status(); !strings.Contains(st.LastError, client.ErrFrameTooLarge.Error()) {
		t.Errorf("last error %q", st.LastError)
	}
	s.Emit("/", "small", nil)
	waitFor(t, "the small event", func() bool { return rec.has("small") })
	if rec.has("big") {
		t.Error("the oversized event was handed on")
	}
}

// TestRefusedTokenIsFetchedAgain: a handshake the server refuses (the
// namespace ERROR packet of a v2 io.use() middleware) marks the token stale:
// the next dial fetches a fresh one, and no error or status quotes a token.
func TestRefusedTokenIsFetchedAgain(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{Token: "tok-good-1234"})
	var calls atomic.Int32
	c, _ := start(t, client.Config{URL: url, TokenProvider: client.TokenFunc(func(context.Context) (string, error) {
		if calls.Add(1) == 1 {
			return "tok-stale-9876", nil
		}
		return "tok-good-1234", nil
	})})
	connected(t, c)
	if got := s.DialTokens(); len(got) < 2 || got[0] != "tok-stale-9876" || got[len(got)-1] != "tok-good-1234" {
		t.Fatalf("tokens dialled %q", got)
	}
	st := c.Status()
	if !strings.Contains(st.LastError, "refused") || strings.Contains(st.LastError, "tok-") || strings.Contains(c.LogURL(), "tok-") {
		t.Fatalf("last error %q, log URL %q", st.LastError, c.LogURL())
	}
}

// TestTokenInURLNeverShown: a token written in the URL is used to dial but
// is not in LogURL, and a refusal's error does not quote it.
func TestTokenInURLNeverShown(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{Token: "tok-other"})
	c, _ := start(t, client.Config{URL: url + "/?token=tok-in-url-5555&tenant=a"})
	waitFor(t, "a refused dial", func() bool { return c.Status().Reconnects >= 1 })
	if got := s.DialTokens(); len(got) == 0 || got[0] != "tok-in-url-5555" {
		t.Fatalf("tokens dialled %q", got)
	}
	if st := c.Status(); strings.Contains(st.LastError, "tok-in-url") || strings.Contains(c.LogURL(), "tok-in-url") {
		t.Fatalf("token shown: %q %q", st.LastError, c.LogURL())
	}
}

// TestRenewOnInvalidToken: when the server rotates its token it holds events
// behind invalidToken; the client fetches a new token, sends renewedToken
// on the live connection (no reconnect), and the held events arrive.
func TestRenewOnInvalidToken(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{Token: "tok-1111"})
	var current atomic.Value
	current.Store("tok-1111")
	c, rec := start(t, client.Config{URL: url, TokenProvider: client.TokenFunc(func(context.Context) (string, error) {
		return current.Load().(string), nil
	})})
	connected(t, c)
	current.Store("tok-2222")
	s.RotateToken("tok-2222")
	s.Emit("/", "held", map[string]int{"n": 1})
	waitFor(t, "the held event", func() bool { return rec.has("held") })
	if rec.has("invalidToken") {
		t.Error("invalidToken was handed on as an event")
	}
	if st := c.Status(); st.Connects != 1 {
		t.Errorf("renewal reconnected (%d connects)", st.Connects)
	}
}

// TestPongTimeout: a server that stops answering pings is left after
// pingTimeout, and the client connects again.
func TestPongTimeout(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	c, _ := start(t, client.Config{URL: url})
	connected(t, c)
	s.IgnorePings(true)
	waitFor(t, "the pong timeout", func() bool { return strings.Contains(c.Status().LastError, client.ErrPongTimeout.Error()) })
	s.IgnorePings(false)
	waitFor(t, "a reconnect", func() bool { st := c.Status(); return st.Connects >= 2 && st.State == client.StateConnected })
}

// TestNoOpenPacket: a server that accepts the WebSocket and says nothing is
// left after OpenTimeout with ErrNoOpen.
func TestNoOpenPacket(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{})
	s.SilentOpen(true)
	c, _ := start(t, client.Config{URL: url, OpenTimeout: 100 * time.Millisecond})
	waitFor(t, "ErrNoOpen", func() bool { return strings.Contains(c.Status().LastError, client.ErrNoOpen.Error()) })
	if c.Status().Connects != 0 {
		t.Fatal("connected without an open packet")
	}
}

// TestEmit: Emit sends an event the server receives; without a connection
// it fails at once with ErrNotConnected.
func TestEmit(t *testing.T) {
	t.Parallel()
	s, url := serve(t, socketiotest.Config{})
	s.SilentOpen(true)
	c, rec := start(t, client.Config{URL: url})
	if err := c.Emit(context.Background(), "command", nil); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("emit while not connected: %v", err)
	}
	s.SilentOpen(false)
	connected(t, c)
	if err := c.Emit(context.Background(), "command", socketiotest.Command{ID: "c1", Topic: "door.open", Body: json.RawMessage(`{"doorId":1}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server's answer", func() bool { return rec.has("command.result.succeed") || rec.has("serverError") })
	if cmds := s.Commands(); len(cmds) != 1 || cmds[0].ID != "c1" || cmds[0].Topic != "door.open" {
		t.Fatalf("commands %+v", cmds)
	}
}

// TestJSONMode: in ModeJSON each text frame is one event named by its
// topic field; a frame without one ends the connection, and the next
// connection's events arrive.
func TestJSONMode(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := r.Context()
		frames := []string{`{"kind":"door.opened","body":{"doorId":1}}`, `{"body":"no kind"}`}
		if conns.Add(1) > 1 {
			frames = []string{`{"kind":"door.closed","body":{"doorId":1}}`}
		}
		for _, f := range frames {
			if conn.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		go func() { // answer pings
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					return
				}
			}
		}()
		<-ctx.Done()
	}))
	t.Cleanup(srv.Close)
	c, rec := start(t, client.Config{URL: srv.URL, Mode: client.ModeJSON, TopicField: "kind"})
	waitFor(t, "both events", func() bool { return rec.has("door.opened") && rec.has("door.closed") })
	if st := c.Status(); st.Connects < 2 || st.LastError == "" {
		t.Fatalf("status %+v; want a reconnect after the frame without a topic", st)
	}
}

// TestConfigErrors: Validate names each bad key and quotes no URL.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  client.Config
		want string
	}{
		{client.Config{}, "url"},
		{client.Config{URL: "ftp://x/?token=tok-secret-1"}, "scheme"},
		{client.Config{URL: "ws://x", Mode: "carrier-pigeon"}, "mode"},
		{client.Config{URL: "ws://x", Namespace: "panel"}, "namespace"},
		{client.Config{URL: "ws://x", Path: "socket.io"}, "path"},
		{client.Config{URL: "ws://x", MaxFrameBytes: -1}, "max_frame_bytes"},
		{client.Config{URL: "ws://x", Backoff: client.Backoff{Initial: time.Second, Max: time.Millisecond}}, "backoff.max"},
		{client.Config{URL: "ws://x", Backoff: client.Backoff{Jitter: 2}}, "backoff.jitter"},
	} {
		_, err := client.NewClient(tt.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "tok-secret") {
			t.Errorf("%+v: %v; want %q named and no URL quoted", tt.cfg, err, tt.want)
		}
	}
}

// TestEventBeforeConnectIsHandedOn: a server that writes an event of the
// client's namespace before that namespace's CONNECT (out of order; a
// socket.io server connects first) must not lose it: a socket cannot send
// it again.
func TestEventBeforeConnectIsHandedOn(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for _, f := range []string{`0{"sid":"early","upgrades":[],"pingInterval":25000,"pingTimeout":60000}`,
			`42["early",{"n":1}]`, `42/other,["elsewhere",{}]`, `40`, `42["late",{"n":2}]`} {
			if c.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		for { // the leaving client's ping: answer it
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == "2" {
				_ = c.Write(ctx, websocket.MessageText, []byte("3"))
			}
		}
	}))
	t.Cleanup(srv.Close)
	_, rec := start(t, client.Config{URL: srv.URL})
	waitFor(t, "the event after CONNECT", func() bool { return rec.has("late") })
	if !rec.has("early") {
		t.Fatalf("the event written before CONNECT was dropped; got %v", rec.names())
	}
	if rec.has("elsewhere") {
		t.Fatal("an event of another namespace was handed on")
	}
}
