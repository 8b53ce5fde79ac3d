package simulate_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/simulate"
)

func get(t *testing.T, u string, h map[string]string) (*http.Response, []simulate.DoorEvent) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []simulate.DoorEvent
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
			t.Fatal(err)
		}
	}
	return resp, evs
}

// TestEventLogETagFlow walks seed 000's polling flow: limit=1 gives an ETag,
// If-None-Match with it gives 304 until a new event arrives, then startDate
// with orderBy=createdAt:DESC returns the new events newest first.
func TestEventLogETagFlow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := simulate.NewEventLog(simulate.EventLogConfig{Seed: 7, Token: "tok", History: 5, Now: clock})
	mux := http.NewServeMux()
	l.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	auth := map[string]string{"Authorization": "Bearer tok"}

	if resp, _ := get(t, srv.URL+"/eventlogs?limit=1", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", resp.StatusCode)
	}
	resp, evs := get(t, srv.URL+"/eventlogs?limit=1", auth)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || len(evs) != 1 || etag == "" {
		t.Fatalf("first poll: %d, %d events, etag %q", resp.StatusCode, len(evs), etag)
	}
	newest := evs[0]
	for _, inm := range []string{etag, `"` + etag[3:], `"x", ` + etag, "*"} {
		resp, _ := get(t, srv.URL+"/eventlogs?limit=1", map[string]string{"Authorization": "Bearer tok", "If-None-Match": inm})
		if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d (etag %q), want 304", inm, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
	lastFetched := now
	now = now.Add(time.Minute)
	a := l.Add()
	now = now.Add(time.Second)
	b := l.Add()
	resp, _ = get(t, srv.URL+"/eventlogs?limit=1", map[string]string{"Authorization": "Bearer tok", "If-None-Match": etag})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Fatalf("after new events: %d etag %q, want 200 with a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	_, evs = get(t, srv.URL+"/eventlogs?orderBy=createdAt:DESC&startDate="+url.QueryEscape(lastFetched.Add(time.Nanosecond).Format(time.RFC3339Nano)), auth)
	if len(evs) != 2 || evs[0].ID != b.ID || evs[1].ID != a.ID {
		t.Fatalf("startDate query returned %+v, want [%s %s]", evs, b.ID, a.ID)
	}
	_, evs = get(t, srv.URL+"/eventlogs?orderBy=createdAt:ASC&limit=500", auth)
	if len(evs) != 7 || evs[0].CreatedAt.After(evs[6].CreatedAt) || evs[4].ID != newest.ID {
		t.Fatalf("ASC listing wrong: %d events", len(evs))
	}
	for _, q := range []string{"limit=0", "limit=x", "startDate=yesterday", "orderBy=id"} {
		if resp, _ := get(t, srv.URL+"/eventlogs?"+q, auth); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
	// Same seed, same events: reproducible.
	l2 := simulate.NewEventLog(simulate.EventLogConfig{Seed: 7, History: 5, Now: clock})
	if e1, e2 := l.Events()[0], l2.Events()[0]; e1.ID != e2.ID || e1.Door != e2.Door || e1.User != e2.User || e1.Type != e2.Type {
		t.Fatal("same seed gave different events")
	}
}

func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestReceiverVerifiesSignaturesAndDedups(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	var out bytes.Buffer
	r, err := simulate.NewReceiver(simulate.ReceiverConfig{Secret: "whsec_" + base64.StdEncoding.EncodeToString(key), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	r.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(id, sig string, ts time.Time) int {
		body := []byte(`{"id":"` + id + `"}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", bytes.NewReader(body))
		req.Header.Set("webhook-id", id)
		tss := strconv.FormatInt(ts.Unix(), 10)
		req.Header.Set("webhook-timestamp", tss)
		if sig == "" {
			sig = sign(key, id, tss, body)
		}
		if sig != "none" {
			req.Header.Set("webhook-signature", "v1,bm9wZQ== "+sig) // rotation: a stale signature first
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	cases := []struct {
		id, sig string
		ts      time.Time
		want    int
	}{
		{"msg_1", "", now, 200},
		{"msg_1", "", now, 200}, // duplicate, still 2xx
		{"msg_2", "v1,AAAA", now, 401},
		{"msg_3", "none", now, 401},
		{"msg_4", "", now.Add(-10 * time.Minute), 401},
	}
	for _, c := range cases {
		if got := post(c.id, c.sig, c.ts); got != c.want {
			t.Errorf("%s: %d, want %d", c.id, got, c.want)
		}
	}
	got := r.Received()
	if len(got) != 5 || got[0].Signature != "valid" || got[1].Signature != "valid" || !got[1].Duplicate || got[0].Duplicate ||
		got[2].Signature != "invalid" || got[3].Signature != "unsigned" || got[4].Signature != "invalid" {
		t.Fatalf("received %+v", got)
	}
	if !bytes.Contains(out.Bytes(), []byte("event=msg_1")) || !bytes.Contains(out.Bytes(), []byte("DUPLICATE")) {
		t.Fatalf("printed:\n%s", out.String())
	}
}

func TestServerRunsAndStops(t *testing.T) {
	t.Parallel()
	srv, err := simulate.NewServer(simulate.Config{Addr: "127.0.0.1:0", EventInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.EventLog.Events()) <= 20 {
		if time.Now().After(deadline) {
			t.Fatal("no events generated")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(srv.URL() + "/eventlogs?limit=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// FuzzETagMatches: header parsing off the wire never panics; an ETag always
// matches itself, weak or strong.
func FuzzETagMatches(f *testing.F) {
	for _, s := range []string{`W/"a"`, `"a", "b"`, "*", "", `,,W/`, `W/W/"x"`, `"a,b"`, `x, W/"a"`} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, header, opaque string) {
		simulate.ETagMatches(header, opaque)
		if strings.ContainsRune(opaque, '"') {
			return
		}
		strong, weak := `"`+opaque+`"`, `W/"`+opaque+`"`
		for _, h := range []string{strong, weak, `"x", ` + weak, weak + `, "x"`} {
			if !simulate.ETagMatches(h, strong) || !simulate.ETagMatches(h, weak) {
				t.Fatalf("%q does not match %q", h, strong)
			}
		}
		if simulate.ETagMatches(`"`+opaque+`x"`, strong) {
			t.Fatalf("%q matched a different tag", strong)
		}
	})
}

// FuzzVerifySignature: the signature header is attacker-controlled; it must
// never panic nor verify without the key's HMAC.
func FuzzVerifySignature(f *testing.F) {
	key := []byte("k")
	f.Add("v1,AAAA", []byte("{}"))
	f.Add("v1a,x v1,", []byte(""))
	f.Add(sign(key, "id", "1", []byte("{}")), []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		ok := simulate.VerifySignature(key, "id", "1", body, header)
		if ok && !bytes.Contains([]byte(header), []byte(sign(key, "id", "1", body)[3:])) {
			t.Fatalf("verified %q without the right HMAC", header)
		}
	})
}
