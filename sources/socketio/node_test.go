package socketio_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/nodepeer"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// TestRealSocketIOServer runs the source and the command sink against the
// npm socket.io 2.x server: connect, receive events, renew an expired token
// (fetched from an HTTP token endpoint), send a command and get its result,
// and survive the server restarting.
func TestRealSocketIOServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs node")
	}
	t.Parallel()
	var tokMu sync.Mutex
	token := "node-token-one-4f2a"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokMu.Lock()
		defer tokMu.Unlock()
		fmt.Fprintf(w, `{"token":%q}`, token)
	}))
	t.Cleanup(tokens.Close)
	peer := nodepeer.Start(t, token)

	cfg := fastSocket("node-peer", peer.URL())
	cfg.Token.URL = tokens.URL
	cfg.RenewMinInterval = 200 * time.Millisecond
	cfg.OpenTimeout = 5 * time.Second
	logger, logs := newLogger()
	conn, err := client.NewClient(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	sub, ch := subscribe(t, socketio.Config{Client: conn, Topics: []string{"door.*", "command.result.succeed"}}, logger)
	got := collect(t, ch)
	cmds, err := socketcommand.NewPublisher(socketcommand.Config{Client: conn, Timeout: 5 * time.Second}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmds.Close() })

	pipelinetest.WaitFor(t, 10*time.Second, "connected to node", func() bool { return sub.Status().State == client.StateConnected })
	emit := func(topic string, doorID int) {
		peer.Emit(topic, map[string]any{"topic": topic, "body": map[string]any{"doorId": doorID}, "occurred": "2023-05-04 17:59:16"})
	}

	// 1. Events.
	emit("door.alarm.forced", 1)
	emit("door.input.dps.opened", 1)
	emit("liveEvent", 1) // filtered out
	pipelinetest.WaitFor(t, 10*time.Second, "two door events", func() bool { return got.len() == 2 })

	// 2. Token renewal: the server only accepts a new token; events are held
	// behind invalidToken until the client fetches it and sends renewedToken.
	tokMu.Lock()
	token = "node-token-two-9c1d"
	tokMu.Unlock()
	peer.Rotate("node-token-two-9c1d")
	emit("door.alarm.propped.on", 2)
	emit("door.alarm.propped.off", 2)
	pipelinetest.WaitFor(t, 10*time.Second, "the held events after renewal", func() bool { return got.len() == 4 })
	// Outlive the server's heartbeat limit (pingInterval 200 ms + pingTimeout
	// 1 s): only a client whose pings the real server accepts stays connected.
	time.Sleep(1500 * time.Millisecond)
	if st := sub.Status(); st.Connects != 1 || st.State != client.StateConnected {
		t.Fatalf("renewal or heartbeats cost the connection: %+v", st)
	}

	// 3. A command and its result; serverError is permanent.
	msg := message.NewMessage("c1", []byte(`{"topic":"door.try.dwellopen","body":{"doorId":6,"dwell":30}}`))
	if err := cmds.Publish("commands", msg); err != nil {
		t.Fatalf("command: %v", err)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the command result as an event", func() bool { return got.types()["command.result.succeed"] == 1 })
	bad := message.NewMessage("c2", []byte(`{"topic":"door.try.open","body":{"doorId":999}}`))
	if err := cmds.Publish("commands", bad); err == nil || !middleware.IsPermanent(err) || !strings.Contains(err.Error(), "Command is not supported.") {
		t.Fatalf("serverError: err = %v; want permanent", err)
	}

	// 4. The server restarts: the client reconnects (with the renewed token) and events flow.
	peer.Stop()
	pipelinetest.WaitFor(t, 10*time.Second, "the client to notice", func() bool { return sub.Status().State != client.StateConnected })
	peer.Restart("node-token-two-9c1d")
	pipelinetest.WaitFor(t, 20*time.Second, "reconnected to the restarted server", func() bool {
		return sub.Status().State == client.StateConnected && sub.Status().Connects == 2
	})
	pipelinetest.WaitFor(t, 5*time.Second, "the server to see the client", func() bool { return peer.Clients() == 1 })
	emit("door.forceclose.on", 3)
	pipelinetest.WaitFor(t, 10*time.Second, "an event after the restart", func() bool { return got.types()["door.forceclose.on"] == 1 })
	if err := cmds.Publish("commands", message.NewMessage("c3", []byte(`{"topic":"endpoint.discover","body":{}}`))); err != nil {
		t.Fatalf("command after restart: %v", err)
	}

	want := map[string]int{"door.alarm.forced": 1, "door.input.dps.opened": 1, "door.alarm.propped.on": 1,
		"door.alarm.propped.off": 1, "command.result.succeed": 2, "door.forceclose.on": 1}
	pipelinetest.WaitFor(t, 10*time.Second, "every event", func() bool { return fmt.Sprint(got.types()) == fmt.Sprint(want) })
	for _, m := range got.all() {
		if m.Metadata.Get(tributary.MetaEventID) == "" {
			t.Fatalf("message without event id: %v", m.Metadata)
		}
	}
	assertNoSecrets(t, logs.String()+fmt.Sprintf("%+v", sub.Status())+metricsText(t), "node-token-one-4f2a", "node-token-two-9c1d")
}
