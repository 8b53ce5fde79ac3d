// Package feedfake is an in-process fake of a batch polling feed:
// GET {base}/eventnotifications/v2/{feedId}/next returns the same batch until
// POST …/{feedId}/{batchId}/complete, PUT …/{feedId}/discardAll empties a
// feed, and feed ids are case-sensitive (404 problem+json otherwise). Faults
// can be scripted per feed and operation. It is an http.Handler, so tests
// mount it on httptest.NewServer and a simulator can serve it for real.
package feedfake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KnownFeeds are the feeds the fake serves by default.
var KnownFeeds = []string{"journey", "entitydata", "document", "screening", "digitalidv", "association"}

// Op is an operation of the feed API.
type Op string

// Operations that can be scripted and observed.
const (
	OpNext       Op = "next"
	OpComplete   Op = "complete"
	OpDiscardAll Op = "discardAll"
)

// Notification is one event in a batch, as it goes on the wire.
type Notification struct {
	ID            string          `json:"id"`
	EventType     string          `json:"eventType"`
	When          string          `json:"when"`
	TenantID      string          `json:"tenantId"`
	CausationID   string          `json:"causationId"`
	CorrelationID string          `json:"correlationId"`
	RelativeURL   string          `json:"relativeUrl"`
	Payload       json.RawMessage `json:"payload,omitempty"`
}

// Batch is the body of a 200 answer to next.
type Batch struct {
	BatchID       string         `json:"batchId"`
	Notifications []Notification `json:"notifications"`
	MoreAvailable bool           `json:"moreAvailable"`
}

// Fault replaces one answer. The zero Fault passes the request through.
type Fault struct {
	// Status and Body answer instead of the feed (Status 0 with a Body means 200).
	Status      int
	Body        []byte
	ContentType string
	Header      http.Header // extra answer headers (Retry-After, say)
	// Delay waits before answering (or until the client gives up, which then
	// applies nothing).
	Delay time.Duration
	// Hang waits until the client gives up; nothing is answered, and
	// nothing applied unless Apply is set (then it is applied late).
	Hang bool
	// ApplyThenDrop applies the request, then closes the connection without
	// answering: the client cannot tell whether it took effect.
	ApplyThenDrop bool
	// Apply applies the request, then answers Status and Body instead of the
	// real answer (a proxy's 502 for a complete that took effect, say).
	Apply bool
}

// Config configures a Fake.
type Config struct {
	// Feeds served; KnownFeeds when empty.
	Feeds []string
	// BatchSize is the most notifications in a batch; 10 when zero.
	BatchSize int
	// Authorize, when set, must accept the bearer token of every request
	// (401 otherwise).
	Authorize func(token string) bool
	// TenantHeader and TenantID, when TenantID is set, must be on every
	// request (403 otherwise).
	TenantHeader string
	TenantID     string
	// OnRequest, when set, is called for every request to a served feed
	// before it is answered (batchID is empty for next and discardAll). It
	// may block; it runs with no lock held.
	OnRequest func(r *http.Request, op Op, feed, batchID string)
}

// Fake is the fake feed service.
type Fake struct {
	cfg Config

	mu       sync.Mutex
	feeds    map[string]*feed
	calls    map[string]int // "feed/op", feed spelt as requested
	batchSeq int64
	denied   int
}

type feed struct {
	queue     []Notification
	current   *Batch
	completed []string // batch ids, in order
	doneIDs   []string // notification ids completed, in order
	attempts  []string // every batch id a complete was asked for
	discarded int
	scripts   map[Op][]*Fault
	generated int
}

// New returns a Fake serving cfg.Feeds.
func New(cfg Config) *Fake {
	if len(cfg.Feeds) == 0 {
		cfg.Feeds = KnownFeeds
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 10)
	cfg.TenantHeader = cmp.Or(cfg.TenantHeader, "X-Tenant-Id")
	f := &Fake{cfg: cfg, feeds: map[string]*feed{}, calls: map[string]int{}, batchSeq: 1642925639480}
	for _, id := range cfg.Feeds {
		f.feeds[id] = &feed{scripts: map[Op][]*Fault{}}
	}
	return f
}

// Add queues notifications on a feed, after those already queued.
func (f *Fake) Add(feedID string, ns ...Notification) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := f.mustFeed(feedID)
	fd.queue = append(fd.queue, ns...)
}

// Generate queues n made-up notifications on a feed and returns them.
func (f *Fake) Generate(feedID string, n int) []Notification {
	f.mu.Lock()
	fd := f.mustFeed(feedID)
	start := fd.generated
	fd.generated += n
	f.mu.Unlock()
	ns := make([]Notification, n)
	for i := range ns {
		k := start + i
		ns[i] = Notification{
			ID:            fmt.Sprintf("%s-%08d", feedID, k),
			EventType:     feedID + ":taskcompleted",
			When:          time.Date(2022, 1, 23, 8, 13, 56, k*1000, time.UTC).Format(time.RFC3339Nano),
			TenantID:      "bded51d4-598e-4079-9cf6-43e74144b415",
			CausationID:   fmt.Sprintf("cause-%s-%d", feedID, k),
			CorrelationID: fmt.Sprintf("corr-%s-%d", feedID, k),
			RelativeURL:   fmt.Sprintf("journeyquery/api/journey-instance/%d", k),
			Payload:       json.RawMessage(fmt.Sprintf(`{"TaskId":"task-%d","TaskName":"Resolve Pre-Screening Matches"}`, k)),
		}
	}
	f.Add(feedID, ns...)
	return ns
}

// Script queues faults for the next requests of op on a feed, one per
// request; a nil entry lets that request through.
func (f *Fake) Script(feedID string, op Op, faults ...*Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := f.mustFeed(feedID)
	fd.scripts[op] = append(fd.scripts[op], faults...)
}

// read returns get(feed feedID), under f.mu.
func read[T any](f *Fake, feedID string, get func(*feed) T) T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return get(f.mustFeed(feedID))
}

// Pending is how many notifications of a feed are not completed yet.
func (f *Fake) Pending(feedID string) int {
	return read(f, feedID, (*feed).pending)
}

func (fd *feed) pending() int {
	if fd.current == nil {
		return len(fd.queue)
	}
	return len(fd.queue) + len(fd.current.Notifications)
}

// Current returns a copy of the batch a feed hands out until it is
// completed, nil when there is none.
func (f *Fake) Current(feedID string) *Batch {
	return read(f, feedID, func(fd *feed) *Batch {
		if fd.current == nil {
			return nil
		}
		b := *fd.current
		b.Notifications = slices.Clone(b.Notifications)
		b.MoreAvailable = len(fd.queue) > 0
		return &b
	})
}

// Completed returns the ids of the completed batches of a feed, in order.
func (f *Fake) Completed(feedID string) []string {
	return read(f, feedID, func(fd *feed) []string { return slices.Clone(fd.completed) })
}

// CompletedIDs returns the notification ids of the completed batches, in order.
func (f *Fake) CompletedIDs(feedID string) []string {
	return read(f, feedID, func(fd *feed) []string { return slices.Clone(fd.doneIDs) })
}

// CompleteAttempts returns every batch id a complete was asked for, in order.
func (f *Fake) CompleteAttempts(feedID string) []string {
	return read(f, feedID, func(fd *feed) []string { return slices.Clone(fd.attempts) })
}

// Discarded is how many notifications discardAll threw away on a feed.
func (f *Fake) Discarded(feedID string) int {
	return read(f, feedID, func(fd *feed) int { return fd.discarded })
}

// Calls counts the requests of op on a feed id spelt exactly as given,
// served or not.
func (f *Fake) Calls(feedID string, op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[feedID+"/"+string(op)]
}

// Denied counts requests refused for a bad token or tenant.
func (f *Fake) Denied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.denied
}

func (f *Fake) mustFeed(id string) *feed {
	fd, ok := f.feeds[id]
	if !ok {
		panic(fmt.Sprintf("feedfake: feed %q is not served", id))
	}
	return fd
}

const prefix = "/eventnotifications/v2/"

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		problem(w, http.StatusNotFound, "Not Found")
		return
	}
	parts := strings.Split(rest, "/")
	var op Op
	var feedID, batchID string
	switch {
	case len(parts) == 2 && parts[1] == "next" && r.Method == http.MethodGet:
		op, feedID = OpNext, parts[0]
	case len(parts) == 2 && parts[1] == "discardAll" && r.Method == http.MethodPut:
		op, feedID = OpDiscardAll, parts[0]
	case len(parts) == 3 && parts[2] == "complete" && r.Method == http.MethodPost:
		op, feedID, batchID = OpComplete, parts[0], parts[1]
	default:
		problem(w, http.StatusNotFound, "Not Found")
		return
	}

	f.mu.Lock()
	f.calls[feedID+"/"+string(op)]++
	fd, served := f.feeds[feedID]
	f.mu.Unlock()
	if !served {
		// Feed ids are case-sensitive: "Journey" is not "journey".
		problem(w, http.StatusNotFound, "Not Found")
		return
	}
	if !f.allowed(w, r) {
		return
	}
	if f.cfg.OnRequest != nil {
		f.cfg.OnRequest(r, op, feedID, batchID)
	}

	f.mu.Lock()
	if op == OpComplete {
		fd.attempts = append(fd.attempts, batchID)
	}
	var fault *Fault
	if s := fd.scripts[op]; len(s) > 0 {
		fault, fd.scripts[op] = s[0], s[1:]
	}
	f.mu.Unlock()

	if fault != nil {
		if fault.Hang {
			<-r.Context().Done()
			if fault.Apply {
				f.perform(fd, op, batchID)
			}
			return
		}
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault.Apply {
			f.perform(fd, op, batchID)
		}
		if fault.Status != 0 || fault.Body != nil {
			w.Header().Set("Content-Type", cmp.Or(fault.ContentType, "application/json"))
			maps.Copy(w.Header(), fault.Header)
			w.WriteHeader(cmp.Or(fault.Status, http.StatusOK))
			_, _ = w.Write(fault.Body)
			return
		}
	}

	status, body := f.perform(fd, op, batchID)

	if fault != nil && fault.ApplyThenDrop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	switch {
	case status == http.StatusNotFound:
		problem(w, status, "Not Found")
	case body != nil:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	default:
		w.WriteHeader(status)
	}
}

// perform is apply under f.mu.
func (f *Fake) perform(fd *feed, op Op, batchID string) (int, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apply(fd, op, batchID)
}

// apply performs op on fd; f.mu is held.
func (f *Fake) apply(fd *feed, op Op, batchID string) (int, []byte) {
	switch op {
	case OpNext:
		if fd.current == nil {
			if len(fd.queue) == 0 {
				return http.StatusNoContent, nil
			}
			n := min(f.cfg.BatchSize, len(fd.queue))
			f.batchSeq++
			fd.current = &Batch{
				BatchID:       strconv.FormatInt(f.batchSeq, 10),
				Notifications: append([]Notification(nil), fd.queue[:n]...),
			}
			fd.queue = fd.queue[n:]
		}
		// The batch is immutable; moreAvailable reflects what waits behind it.
		b := *fd.current
		b.MoreAvailable = len(fd.queue) > 0
		body, _ := json.Marshal(b)
		return http.StatusOK, body
	case OpComplete:
		if fd.current == nil || fd.current.BatchID != batchID {
			// Unknown or already completed: never completes another batch.
			return http.StatusNotFound, nil
		}
		fd.completed = append(fd.completed, batchID)
		for _, n := range fd.current.Notifications {
			fd.doneIDs = append(fd.doneIDs, n.ID)
		}
		fd.current = nil
		return http.StatusOK, nil
	case OpDiscardAll:
		fd.discarded += fd.pending()
		fd.queue, fd.current = nil, nil
		return http.StatusOK, nil
	}
	return http.StatusNotFound, nil
}

func (f *Fake) allowed(w http.ResponseWriter, r *http.Request) bool {
	if f.cfg.Authorize != nil {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !f.cfg.Authorize(tok) {
			f.deny()
			problem(w, http.StatusUnauthorized, "Unauthorized")
			return false
		}
	}
	if f.cfg.TenantID != "" && r.Header.Get(f.cfg.TenantHeader) != f.cfg.TenantID {
		f.deny()
		problem(w, http.StatusForbidden, "Forbidden")
		return false
	}
	return true
}

func (f *Fake) deny() {
	f.mu.Lock()
	f.denied++
	f.mu.Unlock()
}

func problem(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":    "https://tools.ietf.org/html/rfc7231#section-6.5.4",
		"title":   title,
		"status":  status,
		"traceId": fmt.Sprintf("|%08x.", time.Now().UnixNano()&0xffffffff),
	})
}
