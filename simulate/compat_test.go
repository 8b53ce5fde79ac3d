package simulate_test

import (
	"context"
	"encoding/json"
	"github.com/tributary-dev/tributary/tributarytest"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/simulate"
	"github.com/tributary-dev/tributary/sources/batchfeed"
	"github.com/tributary-dev/tributary/sources/etagpoll"
)

// memCheckpoints is an in-memory etagpoll.Checkpointer.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCheckpoints) Load(_ context.Context, key string, v any) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

func (c *memCheckpoints) Save(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = b
	return err
}

// collect acks messages from ch until want distinct event ids arrived; it
// fails on a duplicate.
func collect(t *testing.T, ch <-chan *message.Message, want int) map[string]*message.Message {
	t.Helper()
	got := map[string]*message.Message{}
	timeout := time.After(20 * time.Second)
	for len(got) < want {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d events", len(got), want)
			}
			id := tributary.EventID(m)
			if got[id] != nil {
				t.Fatalf("event %s handed on twice", id)
			}
			got[id] = m
			m.Ack()
		case <-timeout:
			t.Fatalf("got %d of %d events", len(got), want)
		}
	}
	return got
}

// TestEventLogServesEtagpollDefaults runs sources/etagpoll with its default
// Config (paths, query names, page numbers, field names) against the
// simulated event log holding more than a page of events: every event
// arrives once, then new ones do, and an unchanged log answers 304.
func TestEventLogServesEtagpollDefaults(t *testing.T) {
	t.Parallel()
	const history = 250 // PageSize is 100: three pages, then an empty one
	l := simulate.NewEventLog(simulate.EventLogConfig{Seed: 3, History: history})
	var mu sync.Mutex
	status := map[int]int{}
	mux := http.NewServeMux()
	l.Mount(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		mu.Lock()
		status[rec.Code]++
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()

	src, err := etagpoll.NewSource(etagpoll.Config{
		BaseURL: srv.URL, Checkpoints: &memCheckpoints{m: map[string][]byte{}}, CheckpointKey: "compat",
		StartFrom: time.Now().Add(-2 * time.Hour), Interval: 20 * time.Millisecond, Jitter: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := tributarytest.Subscribe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, ch, history)
	for _, ev := range l.Events() {
		m := got[ev.ID]
		if m == nil {
			t.Fatalf("event %s not read", ev.ID)
		}
		if m.Metadata.Get(tributary.MetaEventType) != ev.Type || m.Metadata.Get(etagpoll.MetaTimestamp) != ev.Timestamp.Format(time.RFC3339Nano) {
			t.Fatalf("event %s metadata %v, want type %s timestamp %s", ev.ID, m.Metadata, ev.Type, ev.Timestamp)
		}
	}
	time.Sleep(200 * time.Millisecond) // polls of an unchanged log
	added := l.Add()
	if late := collect(t, ch, 1); late[added.ID] == nil {
		t.Fatalf("after Add got %v, want %s", late, added.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	if status[http.StatusNotModified] == 0 || status[http.StatusBadRequest] != 0 {
		t.Fatalf("answers by status %v: want 304s for unchanged polls and no 400", status)
	}
}

func TestEventLogPages(t *testing.T) {
	t.Parallel()
	l := simulate.NewEventLog(simulate.EventLogConfig{Seed: 1, History: 5})
	mux := http.NewServeMux()
	l.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	all := l.Events()
	for _, c := range []struct {
		query string
		want  []string // ids, newest first
	}{
		{"limit=2&page=1", []string{all[4].ID, all[3].ID}},
		{"limit=2&page=3", []string{all[0].ID}},
		{"limit=2&page=4", nil},
		{"limit=2&offset=1", []string{all[3].ID, all[2].ID}},
		{"limit=2&offset=9", nil},
		{"limit=2&page=1&orderBy=createdAt:ASC", []string{all[0].ID, all[1].ID}},
	} {
		resp, evs := get(t, srv.URL+"/eventlogs?"+c.query, nil)
		var ids []string
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		if resp.StatusCode != 200 || len(ids) != len(c.want) || (len(ids) > 0 && ids[0] != c.want[0]) || (len(ids) > 1 && ids[1] != c.want[1]) {
			t.Errorf("%s: %d %v, want %v", c.query, resp.StatusCode, ids, c.want)
		}
	}
	if resp, _ := get(t, srv.URL+"/eventlogs?page=0", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("page=0: %d, want 400", resp.StatusCode)
	}
}

// TestBatchFeedServesBatchfeedSource reads the simulated feed with
// sources/batchfeed through OAuth2 client credentials and the tenant header:
// the waiting notifications arrive once each, in order, and their batches
// are completed; without a token the feed refuses.
func TestBatchFeedServesBatchfeedSource(t *testing.T) {
	t.Parallel()
	b := simulate.NewBatchFeed(simulate.BatchFeedConfig{Seed: 5, History: 12})
	mux := http.NewServeMux()
	b.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/eventnotifications/v2/journey/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("next without a token: %d, want 401", resp.StatusCode)
	}
	waiting := b.Fake.Current("journey") // nil: nothing handed out yet
	if waiting != nil || b.Fake.Pending("journey") != 12 || b.Fake.Pending("screening") != 3 {
		t.Fatalf("pending journey %d screening %d", b.Fake.Pending("journey"), b.Fake.Pending("screening"))
	}
	more := b.Generate("journey", 2)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := batchfeed.NewSource(batchfeed.Config{
		BaseURL: srv.URL, FeedID: "journey", TenantID: simulate.FeedTenantID,
		TokenSource: batchfeed.ClientCredentials(ctx, clientcredentials.Config{
			ClientID: simulate.FeedClientID, ClientSecret: simulate.FeedClientSecret, TokenURL: srv.URL + "/oauth2/token",
		}, time.Minute),
		PollInterval: 20 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := tributarytest.Subscribe(sctx, src)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, ch, 14)
	if got[more[1].ID] == nil {
		t.Fatalf("generated notification %s not read", more[1].ID)
	}
	for _, m := range got {
		var n feedfake.Notification
		if err := json.Unmarshal(m.Payload, &n); err != nil || n.TenantID != simulate.FeedTenantID || n.When == "" || n.CorrelationID == "" || len(n.Payload) == 0 {
			t.Fatalf("notification %s: %v %+v", tributary.EventID(m), err, n)
		}
		if _, err := time.Parse(time.RFC3339Nano, n.When); err != nil {
			t.Fatalf("when %q: %v", n.When, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.Fake.CompletedIDs("journey")) < 14 {
		if time.Now().After(deadline) {
			t.Fatalf("completed %d of 14", len(b.Fake.CompletedIDs("journey")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(b.Fake.Completed("journey")); n != 2 {
		t.Fatalf("%d batches completed, want 2 (10 + 4)", n)
	}
}
