package webhookin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// TestUnstorableEventAnswered422: an event the database can never store (a
// NUL in its type: jsonb refuses it) is answered 422 at once, saying why,
// and set aside in the ingest quarantine; an event with an id over the
// btree row limit is stored (200); the next ordinary event is stored too.
// Before, both were answered 503 after ack_timeout, on every retry.
func TestUnstorableEventAnswered422(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{Secrets: []string{secret}, AckTimeout: 20 * time.Second})
	url, sink, pool := runPipeline(t, src)

	send := func(id, body string) (int, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header = signed(t, id, time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		return resp.StatusCode, answer
	}

	code, answer := send("msg_nul", `{"type":"door\u0000opened"}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(answer["detail"], "can never be stored") {
		t.Fatalf("NUL in the type: %d %v, want 422 saying it can never be stored", code, answer)
	}
	longID := "msg_" + pipelinetest.RandomText(8000)
	if code, answer := send(longID, `{"type":"door.opened"}`); code != http.StatusOK {
		t.Fatalf("8 KB id: %d %v, want 200", code, answer)
	}
	if code, answer := send("msg_after", `{"type":"door.opened"}`); code != http.StatusOK {
		t.Fatalf("event after the unstorable one: %d %v, want 200", code, answer)
	}
	// A retry of the long id is a duplicate: dedup holds on its digest.
	if code, _ := send(longID, `{"type":"door.opened"}`); code != http.StatusOK || storedCount(t, pool, longID) != 1 {
		t.Fatalf("retry of the long id: %d, stored %d times", code, storedCount(t, pool, longID))
	}
	pipelinetest.WaitFor(t, 20*time.Second, "the stored events to be delivered", func() bool {
		return sink.Count(longID) == 1 && sink.Count("msg_after") == 1
	})
	recs, err := router.NewIngestQuarantine(pool).List(context.Background(), router.QuarantineFilter{Pipeline: "doors"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].EventID != "msg_nul" || string(recs[0].Payload) != `{"type":"door\u0000opened"}` {
		t.Fatalf("quarantine: %+v, want the NUL event with its body", recs)
	}
}

// TestSlowBodiesAreBounded: 150 connections each send a signature-only
// source the headers of a 1 MiB body and all of it but the last byte, then
// stall. At most max_concurrent_requests bodies are read at once (the rest
// are answered 503 at once, unread), each read ends with 408 at
// body_timeout, and the heap grows by at most those bodies; the source then
// serves an ordinary request. Before, every connection held its body for
// as long as it liked (150 MiB here) and got no answer.
//
// Not parallel: it measures the heap, so it runs alone.
func TestSlowBodiesAreBounded(t *testing.T) {
	const (
		conns   = 150
		slots   = 8
		bodyLen = 1 << 20
	)
	src := newSource(t, webhookin.Config{Secrets: []string{secret}, MaxConcurrentRequests: slots, BodyTimeout: 2 * time.Second})
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	body := make([]byte, bodyLen-1)
	for i := range body {
		body[i] = 'x'
	}
	codes := make(chan int, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				codes <- -1
				return
			}
			defer c.Close()
			go func() {
				// Refused connections are closed under the write: its error
				// does not matter.
				_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", bodyLen)
				_, _ = c.Write(body)
			}()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				codes <- -2
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusServiceUnavailable]+count[http.StatusRequestTimeout] != conns || count[http.StatusRequestTimeout] == 0 {
		t.Fatalf("answers %v: want every connection answered 503 (over the cap) or 408 (body too slow)", count)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("answers %v; heap grew by at most %.1f MiB with %d slots of %d KiB bodies", count, float64(grew)/(1<<20), slots, bodyLen>>10)
	// Each admitted body takes its declared size (a chunked one, up to about
	// twice: io.ReadAll grows its buffer); 32 MiB more is room for the test.
	if limit := int64(slots)*bodyLen*5/2 + 32<<20; grew > limit {
		t.Fatalf("heap grew by %d MiB, want at most %d", grew>>20, limit>>20)
	}
	resp := post(t, srv.URL, `{"id":"x"}`, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an ordinary (unsigned) request after the attack: %d, want 401", resp.StatusCode)
	}
}
