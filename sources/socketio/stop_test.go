package socketio_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/nodepeer"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// TestCleanStopKeepsWhatTheServerSent stops a source while the npm
// socket.io 2.x server is emitting a thousand events a second to it, and
// the pipeline has just held it back (events wait on the wire and in the
// socket's buffers): every event the server emitted before the stop began
// must still arrive (a socket cannot send it again), and Close must not
// hang on a server that keeps emitting.
func TestCleanStopKeepsWhatTheServerSent(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs node")
	}
	t.Parallel()
	peer := nodepeer.Start(t, "")
	logger, logs := newLogger()
	sub, ch := subscribe(t, socketio.Config{Socket: fastSocket(peer.URL()), MaxPending: 50}, logger)
	pipelinetest.WaitFor(t, 10*time.Second, "connected to node", func() bool { return sub.Status().State == client.StateConnected })
	peer.Stream("tick", 2)
	defer peer.StopStream()
	var unheard []int
	stopMidStream(t, sub, ch, "tick-", func() (sent int) {
		sent, unheard = peer.Streamed()
		return sent
	}, logs)
	if len(unheard) > 0 {
		t.Fatalf("the server emitted %d events with no socket connected; the test wants one connected throughout", len(unheard))
	}
}

// stopMidStream collects ch (the events prefix+n, n = 0, 1, …, streamed by
// the server), holds the pipeline back for a moment (the socket is not
// read: events wait on the wire and in buffers), closes sub and checks
// that every event the server had sent when the stop began (sent(), read
// just before Close) arrived.
func stopMidStream(t *testing.T, sub *socketio.Subscriber, ch <-chan *message.Message, prefix string, sent func() int, logs fmt.Stringer) {
	t.Helper()
	var paused atomic.Bool
	got := &collector{}
	go func() {
		for m := range ch {
			for paused.Load() {
				time.Sleep(time.Millisecond)
			}
			got.mu.Lock()
			got.msgs = append(got.msgs, m)
			got.mu.Unlock()
			m.Ack()
		}
	}()
	pipelinetest.WaitFor(t, 10*time.Second, "events streaming", func() bool { return got.len() > 300 })
	paused.Store(true)
	time.Sleep(300 * time.Millisecond)
	n := sent()
	stopped := make(chan struct{})
	go func() { _ = sub.Close(); close(stopped) }()
	time.Sleep(50 * time.Millisecond)
	paused.Store(false)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung while the server kept sending")
	}
	seen := map[string]bool{}
	for _, m := range got.all() {
		seen[m.Metadata.Get(tributary.MetaEventID)] = true
	}
	var lost []int
	for i := range n {
		if !seen[prefix+strconv.Itoa(i)] {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d events sent before the stop never arrived (first %v); %d arrived in all\n%s",
			len(lost), n, lost[:min(len(lost), 10)], got.len(), logs)
	}
	t.Logf("%d events sent before the stop all arrived, %d in all", n, got.len())
}

// TestCleanStopIsBounded: a server that never answers the leaving client
// (it ignores pings and the DISCONNECT) holds Close up for CloseTimeout
// only, and the early leave is logged.
func TestCleanStopIsBounded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_ = c.Write(ctx, websocket.MessageText, []byte(`0{"sid":"mute","upgrades":[],"pingInterval":25000,"pingTimeout":60000}`))
		_ = c.Write(ctx, websocket.MessageText, []byte(`40`))
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	cfg := fastSocket(srv.URL)
	cfg.CloseTimeout = 300 * time.Millisecond
	logger, logs := newLogger()
	sub, _ := subscribe(t, socketio.Config{Socket: cfg}, logger)
	pipelinetest.WaitFor(t, 10*time.Second, "connected", func() bool { return sub.Status().State == client.StateConnected })
	stopped := make(chan struct{})
	go func() { _ = sub.Close(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited past close_timeout for a server that never answers")
	}
	if !strings.Contains(logs.String(), "Left the socket before the server confirmed") {
		t.Fatalf("the early leave was not logged:\n%s", logs)
	}
}

// TestCleanStopKeepsWhatTheServerSentJSON is the clean stop in ModeJSON,
// where a WebSocket ping marks how far the server had sent: every frame
// written before the stop began must arrive.
func TestCleanStopKeepsWhatTheServerSentJSON(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(r.Context()) // answers pings, ends on the client's close
		for n := int64(0); ctx.Err() == nil; n++ {
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"topic":"tick","id":"j-`+strconv.FormatInt(n, 10)+`"}`)); err != nil {
				return
			}
			written.Store(n + 1)
			time.Sleep(500 * time.Microsecond)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := fastSocket(srv.URL)
	cfg.Mode = client.ModeJSON
	logger, logs := newLogger()
	sub, ch := subscribe(t, socketio.Config{Socket: cfg, MaxPending: 50}, logger)
	stopMidStream(t, sub, ch, "j-", func() int { return int(written.Load()) }, logs)
}

// TestStopDuringHandshakeKeepsWhatTheServerSent stops a source whose
// connection is still being set up: the WebSocket is open, but the server
// has not yet sent its open packet. A Socket.IO server sends the open
// packet, joins the client to "/" and may emit at once, before it reads
// anything from the client; so a stop at that moment must still finish
// the handshake and leave cleanly, reading what the server sent. (In a
// storm of rolling restarts a source handed to an instance that was
// itself about to stop lost the events emitted in that window.)
func TestStopDuringHandshakeKeepsWhatTheServerSent(t *testing.T) {
	t.Parallel()
	for _, mode := range []client.Mode{client.ModeSocketIO, client.ModeJSON} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			const events = 5
			accepted, release, served := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var written atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer close(served)
				defer c.CloseNow()
				ctx := r.Context()
				close(accepted)
				<-release
				if mode == client.ModeSocketIO {
					_ = c.Write(ctx, websocket.MessageText, []byte(`0{"sid":"hs","upgrades":[],"pingInterval":25000,"pingTimeout":60000}`))
					_ = c.Write(ctx, websocket.MessageText, []byte(`40`))
				}
				for i := range events {
					frame := `42["tick",{"id":"hs-` + strconv.Itoa(i) + `"}]`
					if mode == client.ModeJSON {
						frame = `{"topic":"tick","id":"hs-` + strconv.Itoa(i) + `"}`
					}
					if c.Write(ctx, websocket.MessageText, []byte(frame)) == nil {
						written.Add(1)
					}
				}
				if mode == client.ModeJSON {
					// Answers the leaving client's ping, after the events.
					<-c.CloseRead(ctx).Done()
					return
				}
				for { // the client's DISCONNECT, then its ping: answer the pong
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
			cfg := fastSocket(srv.URL)
			cfg.Mode = mode
			logger, logs := newLogger()
			sub, ch := subscribe(t, socketio.Config{Socket: cfg}, logger)
			got := &collector{}
			go func() {
				for m := range ch {
					got.mu.Lock()
					got.msgs = append(got.msgs, m)
					got.mu.Unlock()
					m.Ack()
				}
			}()
			select {
			case <-accepted:
			case <-time.After(10 * time.Second):
				t.Fatal("the source never connected")
			}
			stopped := make(chan struct{})
			go func() { _ = sub.Close(); close(stopped) }()
			time.Sleep(100 * time.Millisecond) // Close has begun
			close(release)
			select {
			case <-stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("Close hung")
			}
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("the server's handler did not end after the client left")
			}
			if n := written.Load(); got.len() != int(n) || n != events {
				t.Fatalf("the server wrote %d of %d events after the stop began, during the handshake; %d arrived\n%s",
					n, events, got.len(), logs)
			}
		})
	}
}
