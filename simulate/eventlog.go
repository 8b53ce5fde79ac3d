package simulate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/httpauth"
)

// EventLogConfig configures the ETag event log.
type EventLogConfig struct {
	// Interval is the mean time between new events.
	Interval time.Duration
	// Seed makes the events reproducible.
	Seed uint64
	// Token, when set, is the Bearer token required.
	Token string
	// History is how many events exist at start, spread over the past hour; 20 when zero.
	History int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DoorEvent is one entry of the simulated event log, shaped like an access
// control provider's: createdAt is when the provider recorded it, timestamp
// when the door was used (they differ; polling keys on createdAt).
type DoorEvent struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	CreatedAt    time.Time `json:"createdAt"`
	Timestamp    time.Time `json:"timestamp"`
	AccessMethod string    `json:"accessMethod"`
	Door         Ref       `json:"door"`
	User         Ref       `json:"user"`
}

// Ref is a door or a user.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// EventLog simulates an ETag event log's GET /eventlogs: ETag on every response, 304
// for a matching If-None-Match, ?limit=, ?startDate= (createdAt ≥),
// ?orderBy=createdAt:DESC|ASC and ?page= (from 1) or ?offset= — what
// sources/etagpoll sends with its default Config.
type EventLog struct {
	cfg EventLogConfig
	mu  sync.Mutex
	rng *rand.Rand
	seq int
	evs []DoorEvent // createdAt ascending

	readers readerLog
}

// Readers implements readerSource.
func (l *EventLog) Readers() map[string]Readers {
	return map[string]Readers{"eventlog": l.readers.snapshot()}
}

var (
	doors   = []Ref{{"d-1", "Main entrance"}, {"d-2", "Bike room"}, {"d-3", "Office 3F"}, {"d-4", "Garage"}, {"d-5", "Laundry"}}
	users   = []Ref{{"u-1", "Alva Berg"}, {"u-2", "Noah Lind"}, {"u-3", "Maja Ek"}, {"u-4", "Liam Holm"}, {"u-5", "Elsa Nyström"}, {"u-6", "Hugo Falk"}}
	methods = []string{"app", "app", "app", "key", "pin", "nfc"}
)

// NewEventLog returns an event log with cfg.History past events.
func NewEventLog(cfg EventLogConfig) *EventLog {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.History = cmp.Or(cfg.History, 20)
	cfg.Interval = cmp.Or(cfg.Interval, 2*time.Second)
	l := &EventLog{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), readers: readerLog{returnQuiet: 250 * time.Millisecond}}
	now := cfg.Now()
	for i := cfg.History; i > 0; i-- {
		l.add(now.Add(-time.Duration(i) * time.Hour / time.Duration(cfg.History)))
	}
	return l
}

// Add records a new event created now and returns it.
func (l *EventLog) Add() DoorEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.add(l.cfg.Now())
}

func (l *EventLog) add(created time.Time) DoorEvent {
	l.seq++
	typ := "door.unlocked"
	switch r := l.rng.IntN(20); {
	case r == 0:
		typ = "door.access_denied"
	case r == 1:
		typ = "door.held_open"
	}
	// The door was used a little before the provider recorded it; now and
	// then much earlier (an offline lock syncing late).
	lag := time.Duration(l.rng.IntN(3000)) * time.Millisecond
	if l.rng.IntN(15) == 0 {
		lag = time.Duration(5+l.rng.IntN(30)) * time.Minute
	}
	ev := DoorEvent{
		ID:           fmt.Sprintf("evl_%08x%04d", l.cfg.Seed, l.seq),
		Type:         typ,
		CreatedAt:    created.UTC().Truncate(time.Millisecond), // a JavaScript Date, like the real API
		Timestamp:    created.Add(-lag).UTC(),
		AccessMethod: methods[l.rng.IntN(len(methods))],
		Door:         doors[l.rng.IntN(len(doors))],
		User:         users[l.rng.IntN(len(users))],
	}
	l.evs = append(l.evs, ev)
	return ev
}

// Events returns a copy of every event, oldest first.
func (l *EventLog) Events() []DoorEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]DoorEvent(nil), l.evs...)
}

// Sent implements ledger: every event of the log, at its createdAt.
func (l *EventLog) Sent() map[string][]Sent {
	var out []Sent
	for _, ev := range l.Events() {
		out = append(out, Sent{ID: ev.ID, At: ev.CreatedAt, Live: true})
	}
	return map[string][]Sent{"eventlog": out}
}

// Name implements Simulator.
func (l *EventLog) Name() string { return "etag event log" }

// Mount implements Simulator.
func (l *EventLog) Mount(mux *http.ServeMux) []string {
	mux.Handle("GET /eventlogs", track(&l.readers, http.HandlerFunc(l.serve)))
	return []string{"GET /eventlogs?limit=1 (ETag, If-None-Match → 304), ?startDate=&orderBy=createdAt:DESC&page="}
}

// Run implements Simulator: a new event every Interval on average.
func (l *EventLog) Run(ctx context.Context) {
	for waitAround(ctx, &l.mu, l.rng, l.cfg.Interval) {
		l.Add()
	}
}

func (l *EventLog) serve(w http.ResponseWriter, r *http.Request) {
	if l.cfg.Token != "" {
		got, _ := httpauth.Bearer(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare([]byte(got), []byte(l.cfg.Token)) != 1 {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	q := r.URL.Query()
	limit, ok := intParam(q, "limit", 50, 1)
	if !ok || limit > 500 {
		http.Error(w, `{"error":"limit must be 1..500"}`, http.StatusBadRequest)
		return
	}
	var start time.Time
	if v := q.Get("startDate"); v != "" {
		var err error
		if start, err = time.Parse(time.RFC3339Nano, v); err != nil {
			http.Error(w, `{"error":"startDate must be an ISO 8601 date-time"}`, http.StatusBadRequest)
			return
		}
	}
	desc := true
	switch q.Get("orderBy") {
	case "", "createdAt:DESC":
	case "createdAt:ASC":
		desc = false
	default:
		http.Error(w, `{"error":"orderBy must be createdAt:DESC or createdAt:ASC"}`, http.StatusBadRequest)
		return
	}
	out := []DoorEvent{}
	for _, ev := range l.Events() {
		if !ev.CreatedAt.Before(start) {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if desc {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].CreatedAt.Before(out[j].CreatedAt)
	})
	// ?page=1,2,… are pages of limit events; past the end is an empty list.
	page, ok := intParam(q, "page", 1, 1)
	if !ok {
		http.Error(w, `{"error":"page must be 1 or more"}`, http.StatusBadRequest)
		return
	}
	skip, ok := intParam(q, "offset", (page-1)*limit, 0)
	if !ok {
		http.Error(w, `{"error":"offset must not be negative"}`, http.StatusBadRequest)
		return
	}
	out = out[min(skip, len(out)):]
	out = out[:min(limit, len(out))]
	body, _ := json.Marshal(out)
	sum := sha256.Sum256(body)
	etag := `W/"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if ETagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// intParam is the query parameter name as an int, def when absent; ok is
// false when it is present but not an int ≥ lo.
func intParam(q url.Values, name string, def, lo int) (n int, ok bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= lo
}

// ETagMatches reports whether an If-None-Match header value matches etag,
// using the weak comparison RFC 9110 prescribes for If-None-Match (W/"x"
// matches "x"); "*" matches anything. Entity tags are quoted strings that may
// contain commas, so the list is scanned rather than split.
func ETagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for rest := header; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return false
		}
		if rest[0] == '*' {
			return true
		}
		tag := strings.TrimPrefix(rest, "W/")
		if !strings.HasPrefix(tag, `"`) {
			// Not an entity tag: skip to the next list element.
			var ok bool
			if _, rest, ok = strings.Cut(rest, ","); !ok {
				return false
			}
			continue
		}
		end := strings.IndexByte(tag[1:], '"')
		if end < 0 {
			return false
		}
		if tag[:end+2] == want {
			return true
		}
		rest = tag[end+2:]
	}
}
