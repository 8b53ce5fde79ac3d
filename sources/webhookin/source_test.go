package webhookin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/sigpeer"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/webhookin"
	"github.com/tributary-dev/tributary/webhook/signature"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newSource(t testing.TB, cfg webhookin.Config) *webhookin.Source {
	t.Helper()
	src, err := webhookin.NewSource(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// runPipeline mounts src in a ServeMux at /hooks/parakey, runs it as the
// source of a Postgres-backed pipeline and returns the server URL.
func runPipeline(t *testing.T, src *webhookin.Source) (string, *pipelinetest.Sink, *pgxPool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "parakey", Source: tributary.FromSubscriber(src, "parakey")}},
		Sinks:   []router.Sink{{Name: "rec", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/parakey", src)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // before the router stops
	return srv.URL + "/hooks/parakey", sink, pool
}

type pgxPool = pgxpool.Pool

func post(t testing.TB, url string, body string, h http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func signed(t testing.TB, id string, ts time.Time, body string) http.Header {
	sec, err := signature.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	signature.SetHeaders(h, []signature.Secret{sec}, id, ts, []byte(body))
	return h
}

func storedCount(t testing.TB, pool *pgxPool, eventID string) int {
	t.Helper()
	n, err := pipelinetest.TopicCount(context.Background(), pool, "doors", []string{eventID})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoHundredOnlyOnceStored: every 2xx is answered only after the event
// is in the pipeline's topic, and a sender's retries (same webhook-id, or
// same body id without one) are stored once.
func TestTwoHundredOnlyOnceStored(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{Secrets: []string{secret}})
	url, sink, pool := runPipeline(t, src)

	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "msg_" + strconv.Itoa(i%10) // every id sent twice, concurrently
			body := fmt.Sprintf(`{"id":"evt_%d","type":"door.unlocked"}`, i%10)
			resp := post(t, url, body, signed(t, id, time.Now(), body))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d", id, resp.StatusCode)
				return
			}
			if n := storedCount(t, pool, id); n != 1 {
				t.Errorf("%s answered 200 but stored %d times", id, n)
			}
		}()
	}
	wg.Wait()
	pipelinetest.WaitFor(t, 20*time.Second, "sink to receive every event", func() bool {
		for i := 0; i < 10; i++ {
			if sink.Count("msg_"+strconv.Itoa(i)) != 1 {
				return false
			}
		}
		return true
	})
	md := sink.Metadata("msg_3")
	if md.Get(tributary.MetaEventType) != "door.unlocked" || md.Get(webhookin.MetaWebhookID) != "msg_3" ||
		md.Get(tributary.MetaSource) != "parakey" || md.Get(webhookin.MetaWebhookTimestamp) == "" {
		t.Fatalf("metadata %v", md)
	}
}

func TestRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{
		BasicAuth: &webhookin.BasicAuth{Username: "parakey", Password: "door-pass"},
		Token:     "tok-1234", Secrets: []string{secret}, MaxBodyBytes: 256,
	})
	url, sink, pool := runPipeline(t, src)
	good := func(id, body string) http.Header {
		h := signed(t, id, time.Now(), body)
		h.Set("token", "tok-1234")
		h.Set("Authorization", "Basic "+basic("parakey", "door-pass"))
		return h
	}
	body := `{"id":"e1"}`
	tests := []struct {
		name string
		body string
		h    http.Header
		want int
	}{
		{"all good", body, good("m1", body), 200},
		{"wrong password", body, with(good("m2", body), "Authorization", "Basic "+basic("parakey", "nope")), 401},
		{"wrong user", body, with(good("m2", body), "Authorization", "Basic "+basic("other", "door-pass")), 401},
		{"no Basic", body, with(good("m2", body), "Authorization", ""), 401},
		{"wrong token", body, with(good("m2", body), "token", "tok-9999"), 401},
		{"no token", body, with(good("m2", body), "token", ""), 401},
		{"tampered body", `{"id":"e2"}`, good("m2", body), 401},
		{"wrong secret", body, with(good("m2", body), "webhook-signature", "v1,"+strings.Repeat("A", 43)+"="), 401},
		{"stale timestamp", body, func() http.Header {
			h := good("m2", body)
			old := signed(t, "m2", time.Now().Add(-10*time.Minute), body)
			h.Set("webhook-timestamp", old.Get("webhook-timestamp"))
			h.Set("webhook-signature", old.Get("webhook-signature"))
			return h
		}(), 401},
		{"too large", `{"id":"` + strings.Repeat("x", 300) + `"}`, good("m3", `{"id":"`+strings.Repeat("x", 300)+`"}`), 413},
		{"malformed JSON", `{"id":`, good("m4", `{"id":`), 400},
	}
	for _, tt := range tests {
		resp := post(t, url, tt.body, tt.h)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	if storedCount(t, pool, "m1") != 1 || storedCount(t, pool, "m2")+storedCount(t, pool, "m3")+storedCount(t, pool, "m4") != 0 {
		t.Fatal("a refused event was stored")
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the good event delivered", func() bool { return sink.Count("m1") == 1 })
	// Chunked body over the limit (no Content-Length).
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(strings.NewReader(`{"id":"`), bytes.NewReader(bytes.Repeat([]byte("y"), 1000)), strings.NewReader(`"}`)))
	req.Header = good("m5", "irrelevant")
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize: %d", resp.StatusCode)
	}
	if resp := post(t, strings.Replace(url, "/hooks/parakey", "/hooks/other", 1), body, good("m6", body)); resp.StatusCode != 404 {
		t.Fatalf("mux: %d", resp.StatusCode)
	}
}

// TestReferenceSignatureAccepted: a request signed by the npm package
// standardwebhooks is accepted and stored.
func TestReferenceSignatureAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{Secrets: []string{"whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=", secret}})
	url, _, pool := runPipeline(t, src)
	body := `{"id":"evt_node","type":"door.unlocked","data":{"door":"Front ✓"}}`
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("webhook-id", "msg_node")
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sigpeer.Sign(t, secret, "msg_node", ts, []byte(body)))
	if resp := post(t, url, body, h); resp.StatusCode != 200 {
		t.Fatalf("reference-signed request: %d", resp.StatusCode)
	}
	if storedCount(t, pool, "msg_node") != 1 {
		t.Fatal("not stored")
	}
}

func TestEventIDFallbacks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{Token: "tok-1234"})
	url, _, pool := runPipeline(t, src)
	h := http.Header{"Token": {"tok-1234"}}
	for i := 0; i < 2; i++ { // the second round is a sender's retry: deduped
		for _, body := range []string{`{"id":"evt_from_body"}`, `{"id":42}`, `[1,2,3]`} {
			if resp := post(t, url, body, h); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", body, resp.StatusCode)
			}
		}
	}
	for _, id := range []string{"evt_from_body", "42", "sha256:a615eeaee21de5179de080de8c3052c8da901138406ba71c38c032845f7d54f4"} {
		if n := storedCount(t, pool, id); n != 1 {
			t.Fatalf("event %s stored %d times, want 1", id, n)
		}
	}
}

func with(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if v == "" {
		h.Del(k)
	} else {
		h.Set(k, v)
	}
	return h
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
