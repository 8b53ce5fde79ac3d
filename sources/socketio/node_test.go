package socketio_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// nodePeer runs testpeers/socketio/server.js: the real npm socket.io 2.x server.
type nodePeer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// requirePeer finds node and the installed peer, or skips (fails when
// TRIBUTARY_REQUIRE_PEERS is set, as in CI).
func requirePeer(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testpeers", "socketio"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		missing = "socket.io is not installed: run `npm ci` in " + dir
	}
	if missing != "" {
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
			t.Fatalf("real socket.io peer required (TRIBUTARY_REQUIRE_PEERS is set): %s", missing)
		}
		t.Skipf("real socket.io peer unavailable: %s", missing)
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the server with token as the valid token and waits until it listens.
func (p *nodePeer) start(token string) {
	p.t.Helper()
	cmd := exec.Command("node", "server.js")
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", p.port), "TOKEN="+token, "PING_INTERVAL=200", "PING_TIMEOUT=1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() && strings.HasPrefix(sc.Text(), "listening ") {
			ready <- nil
		} else {
			ready <- errors.New("server.js did not start: " + stderr.String())
		}
		for sc.Scan() {
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case err := <-ready:
		if err != nil {
			p.t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("server.js did not start in 20 s")
	}
}

// stop ends the server process (the one this test started, by its pid).
func (p *nodePeer) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

func (p *nodePeer) control(path string, body any) []byte {
	p.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/control/%s", p.port, path)
	var resp *http.Response
	var err error
	if body == nil {
		resp, err = http.Get(url)
	} else {
		b, _ := json.Marshal(body)
		resp, err = http.Post(url, "application/json", bytes.NewReader(b))
	}
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("control %s: %d %s", path, resp.StatusCode, buf.String())
	}
	return buf.Bytes()
}

func (p *nodePeer) clients() int {
	var c struct{ Clients int }
	_ = json.Unmarshal(p.control("clients", nil), &c)
	return c.Clients
}

// TestRealSocketIOServer runs the source and the command sink against the
// npm socket.io 2.x server: connect, receive events, renew an expired token
// (fetched from an HTTP token endpoint), send a command and get its result,
// and survive the server restarting.
func TestRealSocketIOServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs node")
	}
	dir := requirePeer(t)
	t.Parallel()
	peer := &nodePeer{t: t, dir: dir, port: freePort(t)}
	var tokMu sync.Mutex
	token := "node-token-one-4f2a"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokMu.Lock()
		defer tokMu.Unlock()
		fmt.Fprintf(w, `{"token":%q}`, token)
	}))
	t.Cleanup(tokens.Close)
	peer.start(token)
	t.Cleanup(peer.stop)

	cfg := fastSocket("node-peer", fmt.Sprintf("http://127.0.0.1:%d", peer.port))
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
		peer.control("emit", map[string]any{"event": topic, "data": map[string]any{
			"topic": topic, "body": map[string]any{"doorId": doorID}, "occurred": "2023-05-04 17:59:16"}})
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
	peer.control("rotate", map[string]string{"token": "node-token-two-9c1d"})
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
	peer.stop()
	pipelinetest.WaitFor(t, 10*time.Second, "the client to notice", func() bool { return sub.Status().State != client.StateConnected })
	peer.start("node-token-two-9c1d")
	pipelinetest.WaitFor(t, 20*time.Second, "reconnected to the restarted server", func() bool {
		return sub.Status().State == client.StateConnected && sub.Status().Connects == 2
	})
	pipelinetest.WaitFor(t, 5*time.Second, "the server to see the client", func() bool { return peer.clients() == 1 })
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
