package etagpoll

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

// provider is a second fake event-log API, written from the seed and from
// how such APIs are commonly built rather than from this package, for the
// cases fakeAPI does not model:
//
//   - The ETag is a hash of the response body (a representation ETag), so
//     the ?limit=1 probe's ETag changes only when the newest event does: an
//     event that becomes visible below the newest one leaves it unchanged.
//   - Two clocks: the Date header is the web host's clock (now+dateSkew),
//     createdAt is stamped by another host (now+stampSkew), e.g. the database.
//   - Paging by "page" (page numbers from 1), by "offset", or by "link" (an
//     opaque cursor in Link rel="next"); each ignores the other parameters,
//     and the page size is capped at pageCap whatever limit is asked for.
type provider struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	now       func() time.Time // the provider's real time; time.Now unless set
	dateSkew  time.Duration
	stampSkew time.Duration
	paging    string // "page", "offset" or "link"
	pageCap   int
	refuse    string      // a query parameter answered with 400, as strict APIs do
	events    []provEvent // visible events, in the order they became visible
	seq       int
	log       []provRequest
}

type provEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
}

type provRequest struct {
	query  string
	status int
}

func newProvider(t testing.TB, paging string, pageCap int) *provider {
	p := &provider{t: t, now: time.Now, paging: paging, pageCap: pageCap}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// publish makes n events visible now, stamped age ago by the stamping clock
// (age > 0: a late event, committed after newer ones).
func (p *provider) publish(n int, age time.Duration) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		p.seq++
		ev := provEvent{ID: fmt.Sprintf("p-%05d", p.seq), Type: "door.unlocked", CreatedAt: p.now().Add(p.stampSkew - age).UTC()}
		p.events = append(p.events, ev)
		ids[i] = ev.ID
	}
	return ids
}

// newest is the largest createdAt visible.
func (p *provider) newest() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n time.Time
	for _, e := range p.events {
		if e.CreatedAt.After(n) {
			n = e.CreatedAt
		}
	}
	return n
}

func (p *provider) requests() []provRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

// fetches counts the requests that were not probes (probes: limit=1 and no startDate).
func (p *provider) fetches() int {
	n := 0
	for _, r := range p.requests() {
		if strings.Contains(r.query, "startDate=") {
			n++
		}
	}
	return n
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := r.URL.Query()
	p.log = append(p.log, provRequest{query: r.URL.RawQuery})
	status := func(code int) { p.log[len(p.log)-1].status = code }
	w.Header().Set("Date", p.now().Add(p.dateSkew).UTC().Format(http.TimeFormat))
	if p.refuse != "" && q.Has(p.refuse) {
		status(400)
		http.Error(w, `{"error":"unknown parameter `+p.refuse+`"}`, http.StatusBadRequest)
		return
	}

	list := make([]provEvent, 0, len(p.events))
	if v := q.Get("startDate"); v != "" {
		since, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			status(400)
			http.Error(w, `{"error":"bad startDate"}`, http.StatusBadRequest)
			return
		}
		for _, e := range p.events {
			if !e.CreatedAt.Before(since) {
				list = append(list, e)
			}
		}
	} else {
		list = append(list, p.events...)
	}
	slices.SortFunc(list, func(a, b provEvent) int { // createdAt:DESC, ties by id
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	size := p.pageCap
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < size {
		size = l
	}
	lo := 0
	switch p.paging {
	case "page":
		if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
			lo = (n - 1) * size
		}
	case "offset":
		if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
			lo = n
		}
	case "link":
		if c := q.Get("cursor"); c != "" {
			b, err := base64.RawURLEncoding.DecodeString(c)
			n, err2 := strconv.Atoi(string(b))
			if err != nil || err2 != nil {
				status(400)
				http.Error(w, `{"error":"bad cursor"}`, http.StatusBadRequest)
				return
			}
			lo = n
		}
	}
	lo = min(lo, len(list))
	hi := min(lo+size, len(list))
	if p.paging == "link" && hi < len(list) {
		next := *r.URL
		nq := next.Query()
		nq.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(hi))))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.RequestURI()))
	}
	body, err := json.Marshal(map[string]any{"data": list[lo:hi]})
	if err != nil {
		p.t.Errorf("provider: %v", err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		status(304)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	status(200)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// stepClock is virtual time shared by a source and a provider: the source's
// waits advance it, and each wait blocks until the test lets the next poll
// run, so the test knows exactly what the source saw at which time.
type stepClock struct {
	mu     sync.Mutex
	t      time.Time
	parked chan time.Duration
	wake   chan struct{}
}

func newStepClock() *stepClock {
	return &stepClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), parked: make(chan time.Duration), wake: make(chan struct{})}
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.parked <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.wake:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

// idle waits until the source has finished what it was doing and waits; it
// returns the wait the source asked for.
func (c *stepClock) idle(t testing.TB) time.Duration {
	t.Helper()
	select {
	case d := <-c.parked:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("the source did not come back to wait")
		return 0
	}
}

// step lets the source's wait d end and waits until it is idle again.
func (c *stepClock) step(t testing.TB) time.Duration {
	t.Helper()
	select {
	case c.wake <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("the source is not waiting")
	}
	return c.idle(t)
}

// newSteppedSource builds a source with default settings (unless mod says
// otherwise) on p, in virtual time that the test advances poll by poll.
// A restarted source passes the clock of the one before.
func newSteppedSource(t *testing.T, p *provider, clk *stepClock, store Checkpointer, name string, mod func(*Config)) (*Source, *stepClock, *pipelinetest.Logger) {
	t.Helper()
	if clk == nil {
		clk = newStepClock()
	}
	p.mu.Lock()
	p.now = clk.now
	p.mu.Unlock()
	cfg := Config{BaseURL: p.srv.URL, Checkpoints: store}
	if mod != nil {
		mod(&cfg)
	}
	log := &pipelinetest.Logger{}
	s, err := NewSource(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Instrument(nil, "", name) // as a router does
	s.sleep, s.now = clk.sleep, clk.now
	return s, clk, log
}
