// Package natstest starts a NATS server with JetStream for one test: its own
// process, on a free loopback port, with its own store directory, so a test
// can stop and restart it without touching anyone else's (never the
// machine's server on 4222).
//
//	srv := natstest.Start(t)
//	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool})
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a nats-server process started by a test.
type Server struct {
	URL  string
	port int
	dir  string
	tb   testing.TB
	cmd  *exec.Cmd
}

// binary finds nats-server (NATS_SERVER, when set, is the only one tried);
// a missing one skips the test, or fails it under TRIBUTARY_REQUIRE_PEERS.
func binary(tb testing.TB) string {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	} else if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	} else if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
		tb.Fatal("nats-server required (TRIBUTARY_REQUIRE_PEERS is set): apt-get install -y nats-server")
	} else {
		tb.Skip("nats-server not installed")
	}
	return ""
}

// Start starts a JetStream server for tb and stops it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), port: port, dir: tb.TempDir(), tb: tb}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// Restart starts the server (again, after Stop) on the same port and store.
func (s *Server) Restart() {
	s.tb.Helper()
	cmd := exec.Command(binary(s.tb), "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(s.port),
		"-sd", filepath.Join(s.dir, "store"), "-l", filepath.Join(s.dir, "server.log"))
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("nats-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.tb.Fatalf("nats-server did not listen on %d: %v\n%s", s.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Version is the server binary's release, e.g. "2.9.10" ("" if it does
// not say).
func (s *Server) Version() string {
	out, err := exec.Command(binary(s.tb), "--version").Output()
	if err != nil {
		return ""
	}
	_, v, _ := strings.Cut(strings.TrimSpace(string(out)), " v")
	return v
}

// Shutdown stops the server gracefully (SIGTERM: JetStream flushes its
// store before the clients are closed); its store stays for Restart.
func (s *Server) Shutdown() { s.signal(syscall.SIGTERM) }

// Stop kills the server (SIGKILL: what a crashed or lost server looks like
// to its clients); its store stays for Restart.
func (s *Server) Stop() { s.signal(os.Kill) }

// signal sends sig to the server and waits for it to exit.
func (s *Server) signal(sig os.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	_ = s.cmd.Wait()
	s.cmd = nil
}
