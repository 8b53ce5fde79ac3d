// Package nodepeer runs testpeers/socketio/server.js, the real npm socket.io
// 2.x server, for tests of the Socket.IO source and sink, and drives its
// control endpoints (emit, mute, rotate, commands). It is imported by tests only.
//
//	peer := nodepeer.Start(t, "")       // skips without node (fails under TRIBUTARY_REQUIRE_PEERS)
//	peer.Mute(1)                         // the next command gets no answer
//	cmds := peer.Commands()              // every command as the server received it
package nodepeer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Peer is a running server.js.
type Peer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Command is a `command` as the server received it.
type Command struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Body  json.RawMessage `json:"body"`
}

// dir is testpeers/socketio, found from this file's location.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testpeers", "socketio")
}

// Start runs server.js on a free loopback port with token as its valid
// token ("" accepts any) and stops it when t ends. Without node or the
// installed peer it skips t, or fails it when TRIBUTARY_REQUIRE_PEERS is set.
func Start(t testing.TB, token string) *Peer {
	t.Helper()
	d := dir()
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(d, "node_modules", "socket.io", "package.json")); err != nil {
		missing = "socket.io is not installed: run `npm ci` in " + d
	}
	if missing != "" {
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
			t.Fatalf("real socket.io peer required (TRIBUTARY_REQUIRE_PEERS is set): %s", missing)
		}
		t.Skipf("real socket.io peer unavailable: %s", missing)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	p := &Peer{t: t, port: port}
	t.Cleanup(p.Stop)
	p.Restart(token)
	return p
}

// Restart runs server.js again on the same port, with token as its valid
// token, after Stop (a server restart as clients see it).
func (p *Peer) Restart(token string) {
	p.t.Helper()
	cmd := exec.Command("node", "server.js")
	cmd.Dir = dir()
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
	done := p.done
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
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case err := <-ready:
		if err != nil {
			p.t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("server.js did not start in 20 s")
	}
}

// Stop ends the server process this Peer started (by its pid); Restart
// brings it back.
func (p *Peer) Stop() {
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

// URL is the server's base URL (http://127.0.0.1:port).
func (p *Peer) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// Mute leaves the next n commands with an id the server has not seen
// unanswered; a re-send with the same id is answered.
func (p *Peer) Mute(n int) { p.control(http.MethodPost, "/control/mute", map[string]int{"count": n}) }

// Commands returns every command the server received, in order.
func (p *Peer) Commands() []Command {
	var out struct {
		Commands []Command `json:"commands"`
	}
	if err := json.Unmarshal(p.control(http.MethodGet, "/control/commands", nil), &out); err != nil {
		p.t.Fatalf("control/commands: %v", err)
	}
	return out.Commands
}

// Rotate makes token the only valid one: the server answers events with
// invalidToken and holds them until a client sends renewedToken with it.
func (p *Peer) Rotate(token string) {
	p.control(http.MethodPost, "/control/rotate", map[string]string{"token": token})
}

// Clients is the number of sockets connected to the server.
func (p *Peer) Clients() int {
	var c struct{ Clients int }
	if err := json.Unmarshal(p.control(http.MethodGet, "/control/clients", nil), &c); err != nil {
		p.t.Fatalf("control/clients: %v", err)
	}
	return c.Clients
}

// Emit sends event with data to every connected socket.
func (p *Peer) Emit(event string, data any) {
	p.control(http.MethodPost, "/control/emit", map[string]any{"event": event, "data": data})
}

// Stream emits event with data {id: "<event>-<seq>", seq} to every
// connected socket, perTick times every millisecond tick (a few hundred to
// a few thousand a second), until StopStream.
func (p *Peer) Stream(event string, perTick int) {
	p.control(http.MethodPost, "/control/stream", map[string]any{"event": event, "perTick": perTick})
}

// StopStream stops the stream.
func (p *Peer) StopStream() { p.control(http.MethodDelete, "/control/stream", nil) }

// Streamed is how many events the stream emitted so far (seqs 0..n-1), and
// the seqs among them emitted while no socket was connected.
func (p *Peer) Streamed() (n int, unheard []int) {
	var s struct {
		Emitted int   `json:"emitted"`
		Unheard []int `json:"unheard"`
	}
	if err := json.Unmarshal(p.control(http.MethodGet, "/control/stream", nil), &s); err != nil {
		p.t.Fatalf("control/stream: %v", err)
	}
	return s.Emitted, s.Unheard
}

func (p *Peer) control(method, path string, body any) []byte {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.URL()+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("control %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("control %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}
