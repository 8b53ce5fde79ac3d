package etagpoll

import (
	"crypto/sha256"
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
)

// fakeAPI is an event-log API written for these tests: ETag over the whole
// log (any insert changes it, as the seed says of Parakey), 304 on a
// matching If-None-Match (weak comparison), createdAt filtering on startDate,
// createdAt ordering, page-number paging with a server-side cap on the page
// size, and a clock of its own that may be skewed from the client's.
type fakeAPI struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	events   []fakeEvent
	version  int
	skew     time.Duration // server clock = local clock + skew
	maxPage  int           // page-size cap (truncation)
	etagFmt  string        // fmt with %s = hash; "" sends no ETag
	token    string        // required Authorization value, if set
	interval string        // X-Poll-Interval to send, if set
	seq      int
	links    bool           // send Link rel="next" instead of relying on page numbers
	issued   map[string]int // ETag sent → number of events in the log then

	// intercept, when set, may answer a request itself (return true).
	intercept func(w http.ResponseWriter, r *http.Request, step string, n int) bool
	// onPage runs inside a fetch, after the page is computed and before it is
	// written: the place to insert events "while a poll is in flight".
	onPage func(page int)

	log []fakeRequest
}

type fakeEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
	Timestamp time.Time `json:"timestamp"`
	Door      string    `json:"door"`
}

type fakeRequest struct {
	run         string // the X-Test-Run header, telling sources on one API apart
	step        string
	query       string
	ifNoneMatch []string
	status      int
}

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{t: t, maxPage: 25, etagFmt: `W/"%s"`, issued: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) now() time.Time { return time.Now().Add(f.skew) }

// add inserts n events created now (server clock) and returns their ids.
func (f *fakeAPI) add(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(n, 0)
}

// addLate inserts an event that becomes visible now but was created age ago,
// like a row committed after a newer one.
func (f *fakeAPI) addLate(age time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(1, age)[0]
}

func (f *fakeAPI) addLocked(n int, age time.Duration) []string {
	ids := make([]string, n)
	for i := range ids {
		f.seq++
		now := f.now().Add(-age)
		ev := fakeEvent{
			ID: fmt.Sprintf("ev-%05d", f.seq), Type: "door.request.allowed",
			CreatedAt: now,
			// The unlock happened earlier than the insert: keep them apart.
			Timestamp: now.Add(-42 * time.Second), Door: "front",
		}
		f.events = append(f.events, ev)
		ids[i] = ev.ID
	}
	f.version++
	return ids
}

func (f *fakeAPI) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.events))
	for i, e := range f.events {
		out[i] = e.ID
	}
	return out
}

// eventsCoveredBy returns the events that existed when etag was sent.
func (f *fakeAPI) eventsCoveredBy(etag string) []fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events[:f.issued[etag]])
}

func (f *fakeAPI) all() []fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fakeAPI) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeAPI) count(step string) int {
	n := 0
	for _, r := range f.requests() {
		if r.step == step {
			n++
		}
	}
	return n
}

func (f *fakeAPI) etag() string {
	sum := sha256.Sum256([]byte(strconv.Itoa(f.version)))
	return fmt.Sprintf(f.etagFmt, hex.EncodeToString(sum[:6]))
}

// weakMatch compares entity tags weakly (RFC 9110 §8.8.3.2).
func weakMatch(header, etag string) bool {
	opaque := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, c := range strings.Split(header, ",") {
		if strings.TrimSpace(c) == "*" || opaque(c) == opaque(etag) {
			return true
		}
	}
	return false
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	step := "fetch"
	if q.Get("limit") == "1" && q.Get("startDate") == "" {
		step = "probe"
	}
	f.mu.Lock()
	rec := fakeRequest{run: r.Header.Get("X-Test-Run"), step: step, query: r.URL.RawQuery, ifNoneMatch: r.Header.Values("If-None-Match")}
	f.log = append(f.log, rec)
	n := len(f.log) - 1
	intercept := f.intercept
	f.mu.Unlock()
	setStatus := func(code int) {
		f.mu.Lock()
		f.log[n].status = code
		f.mu.Unlock()
	}
	if intercept != nil && intercept(w, r, step, n) {
		setStatus(-1)
		return
	}

	f.mu.Lock()
	if f.token != "" && r.Header.Get("Authorization") != f.token {
		f.mu.Unlock()
		setStatus(401)
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
	if f.interval != "" {
		w.Header().Set("X-Poll-Interval", f.interval)
	}
	if f.etagFmt != "" {
		w.Header().Set("ETag", f.etag())
		f.issued[f.etag()] = len(f.events)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && f.etagFmt != "" && weakMatch(inm, f.etag()) {
		f.mu.Unlock()
		setStatus(304)
		w.WriteHeader(http.StatusNotModified)
		return
	}

	var since time.Time
	if v := q.Get("startDate"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			f.mu.Unlock()
			setStatus(400)
			http.Error(w, `{"error":"bad startDate"}`, http.StatusBadRequest)
			return
		}
		since = t
	}
	list := make([]fakeEvent, 0, len(f.events))
	for _, e := range f.events {
		if !e.CreatedAt.Before(since) {
			list = append(list, e)
		}
	}
	desc := q.Get("orderBy") != "createdAt:ASC"
	slices.SortStableFunc(list, func(a, b fakeEvent) int {
		c := a.CreatedAt.Compare(b.CreatedAt)
		if desc {
			c = -c
		}
		return c
	})
	size := f.maxPage
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < size {
		size = l
	}
	page := 1
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 0 {
		page = p
	}
	lo := min((page-1)*size, len(list))
	if o, err := strconv.Atoi(q.Get("offset")); err == nil && o >= 0 {
		lo = min(o, len(list))
	}
	hi := min(lo+size, len(list))
	if f.links && hi < len(list) {
		next := *r.URL
		nq := next.Query()
		nq.Set("page", strconv.Itoa(page+1))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.RequestURI()))
	}
	body, err := json.Marshal(list[lo:hi])
	onPage := f.onPage
	f.mu.Unlock()
	if err != nil {
		f.t.Errorf("fake API: %v", err)
		return
	}
	if step == "fetch" && onPage != nil {
		onPage(page)
	}
	setStatus(200)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (f *fakeAPI) setIntercept(fn func(w http.ResponseWriter, r *http.Request, step string, n int) bool) {
	f.mu.Lock()
	f.intercept = fn
	f.mu.Unlock()
}

// failFirst answers the first k requests of step with bad; later ones pass.
func failFirst(step string, k int, bad http.HandlerFunc) func(http.ResponseWriter, *http.Request, string, int) bool {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request, s string, _ int) bool {
		if s != step {
			return false
		}
		mu.Lock()
		n++
		hit := n <= k
		mu.Unlock()
		if hit {
			bad(w, r)
		}
		return hit
	}
}
