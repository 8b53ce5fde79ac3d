package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// sentEntry is what GET /simulator/sent reports for one event.
type sentEntry struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Live bool      `json:"live"`
}

func getSent(t *testing.T, base string) map[string][]sentEntry {
	t.Helper()
	resp, err := http.Get(base + "/simulator/sent")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string][]sentEntry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// inboundPoster is a provider sending webhooks to the webhookin source, one
// every interval, each retried until it gets a 2xx (as real senders do); a
// retry goes to the next of urls, so that with several instances it reaches
// whichever answers.
type inboundPoster struct {
	urls     []string
	mu       sync.Mutex
	accepted []string
	stop     chan struct{}
	done     chan struct{}
}

func startInboundPoster(urls []string, interval time.Duration) *inboundPoster {
	p := &inboundPoster{urls: urls, stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(p.done)
		try := 0
		for i := 0; ; i++ {
			id := fmt.Sprintf("hook-%05d", i)
			for {
				select {
				case <-p.stop:
					return
				case <-time.After(interval):
				}
				try++
				req, _ := http.NewRequest(http.MethodPost, urls[try%len(urls)], strings.NewReader(`{"id":"`+id+`","type":"door.unlocked"}`))
				req.Header.Set("Authorization", "Bearer inbound-secret")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue // down: retry
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					p.mu.Lock()
					p.accepted = append(p.accepted, id)
					p.mu.Unlock()
					break
				}
			}
		}
	}()
	return p
}

func (p *inboundPoster) finish() []string {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.accepted...)
}

// TestCleanRestartsUnderFlow stops the binary 20 times — SIGINT and SIGTERM
// in turn — while every source type has events flowing (an ETag event log,
// a Socket.IO stream, two batch feeds, inbound webhooks), restarting it
// each time. A clean stop stops reading from the providers, stores what was
// already read and finishes (or hands back) what is being delivered: the
// receiver must get every event the providers offered exactly once.
//
// What a socket sends while no client is connected, or while the client is
// closing its connection, cannot be received by anyone; such events (emitted
// from 250 ms before a stop signal until that process exited) are not
// counted as lost. Every other event is.
func TestCleanRestartsUnderFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 20 restarts of the binary under flow")
	}
	t.Parallel()
	inAddr := freeAddr(t)
	sim := startSimulation(t, pgtest.NewDatabase(t), "100ms", "WEBHOOKIN_LISTEN="+inAddr)
	env, base := sim.env, sim.base
	file := filepath.Join("testdata", "restart.yaml")

	firstStart := time.Now()
	poster := startInboundPoster([]string{"http://" + inAddr + "/hooks"}, 50*time.Millisecond)
	type window struct{ from, to time.Time }
	var blind []window // when the socket could not be read
	const restarts = 20
	for i := range restarts {
		run := start(t, env, "run", "-c", file, "--metrics-addr", freeAddr(t))
		time.Sleep(time.Second + time.Duration(i%5)*200*time.Millisecond)
		sig := os.Interrupt
		if i%2 == 1 {
			sig = syscall.SIGTERM
		}
		signalled := time.Now()
		_ = run.cmd.Process.Signal(sig)
		select {
		case err := <-run.done:
			if err != nil {
				t.Fatalf("run %d exited with %v after %v\n%s", i, err, sig, tail(run.stderr.String(), 3000))
			}
		case <-time.After(45 * time.Second):
			t.Fatalf("run %d did not stop on %v", i, sig)
		}
		blind = append(blind, window{signalled.Add(-250 * time.Millisecond), time.Now()})
		if strings.Contains(run.stderr.String(), `"level":"ERROR"`) && strings.Contains(run.stderr.String(), "context canceled") {
			t.Errorf("run %d: a stop cut work off:\n%s", i, tail(run.stderr.String(), 3000))
		}
	}

	// One last run drains what the providers still hold.
	final := start(t, env, "run", "-c", file, "--metrics-addr", freeAddr(t))
	time.Sleep(2 * time.Second)
	accepted := poster.finish()
	sent := getSent(t, base)
	want := map[string]string{} // event id → what offered it
	for _, id := range accepted {
		want[id] = "inbound"
	}
	for _, e := range sent["eventlog"] {
		if !e.At.Before(firstStart) {
			want[e.ID] = "eventlog"
		}
	}
	for _, feed := range []string{"journey", "screening"} {
		for _, e := range sent[feed] {
			want[e.ID] = feed
		}
	}
	unreadable := 0
	for _, e := range sent["socketio"] {
		inBlind := !e.Live
		for _, w := range blind {
			if !e.At.Before(w.from) && e.At.Before(w.to) {
				inBlind = true
			}
		}
		if inBlind {
			unreadable++
			continue
		}
		want[e.ID] = "socketio"
	}

	awaitReceived(t, base, want, func() string { return "last run:\n" + tail(final.stderr.String(), 3000) })
	final.stop(t)

	seen := map[string]int{}
	dups := 0
	for _, r := range getReceivedQuickstart(t, base) {
		if r.Status != 200 || r.Signature != "valid" {
			t.Fatalf("receiver refused a delivery: %+v", r)
		}
		seen[r.EventID]++
		if r.Duplicate || seen[r.EventID] > 1 {
			dups++
			t.Errorf("event %s (%s) delivered %d times", r.EventID, r.Source, seen[r.EventID])
		}
	}
	t.Logf("%d restarts: %d events offered and delivered once each (%d socket events emitted while no client could read them), %d duplicates",
		restarts, len(want), unreadable, dups)
}
