// Package sigpeer runs the npm package standardwebhooks under node (from
// testpeers/standardwebhooks) as an independent peer for tests: a receiver
// that verifies what a sink sends, and a signer whose output a verifier must
// accept.
package sigpeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Dir is testpeers/standardwebhooks, found from this file's location; it
// skips / fails t when node or the installed package is missing.
func Dir(t testing.TB) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		msg := "standardwebhooks node peer unavailable: " + why +
			" (run `npm ci` in testpeers/standardwebhooks)"
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node not on PATH")
	}
	_, file, _, _ := runtime.Caller(0)
	peer := filepath.Join(filepath.Dir(file), "..", "..", "testpeers", "standardwebhooks")
	if _, err := os.Stat(filepath.Join(peer, "node_modules", "standardwebhooks")); err != nil {
		missing("node_modules not installed")
	}
	return peer
}

// Receiver is a running node receiver.
type Receiver struct {
	URL string
}

// Entry is one request the receiver saw.
type Entry struct {
	OK     bool   `json:"ok"`
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
	Error  string `json:"error"`
	// Body and Headers (names in lower case) are kept for verified requests.
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// Serve starts a receiver verifying with secret (whsec_...). It answers 204
// to a verified request and 401 otherwise; it stops when t ends.
func Serve(t testing.TB, secret string) *Receiver {
	t.Helper()
	dir := Dir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "peer.js", "serve", secret)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node peer: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the peer exits at EOF; killed if not within 5 s
		time.AfterFunc(5*time.Second, cancel)
		_ = cmd.Wait()
		cancel()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("node peer exited before listening")
		}
		var hello struct{ Port int }
		if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Port == 0 {
			t.Fatalf("node peer said %q", line)
		}
		return &Receiver{URL: "http://127.0.0.1:" + strconv.Itoa(hello.Port)}
	case <-time.After(20 * time.Second):
		t.Fatal("node peer did not start")
	}
	return nil
}

// Log returns what the receiver saw so far.
func (r *Receiver) Log(t testing.TB) []Entry {
	t.Helper()
	resp, err := http.Get(r.URL + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []Entry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Sign returns the webhook-signature value the reference implementation
// computes for body.
func Sign(t testing.TB, secret, id string, ts int64, body []byte) string {
	t.Helper()
	cmd := exec.Command("node", "peer.js", "sign", secret, id, strconv.FormatInt(ts, 10))
	cmd.Dir = Dir(t)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(fmt.Errorf("node sign: %w: %s", err, stderr.String()))
	}
	return string(out)
}
