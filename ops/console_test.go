package ops_test

import (
	"bufio"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// The secrets of the console pipeline: none may appear on any page.
var consoleSecrets = []string{
	"whsec_c2VjcmV0LWtleS1mb3ItY29uc29sZS0yNA==", // the webhook signing secret (configured)
	"feed-pw-4242",   // a configured secret quoted inside a payload
	"tok-url-s3cret", // the endpoint URL's query token
	"hunter2",        // the endpoint URL's password
	"tok-in-payload", // a payload value under a credential-looking key
	"pw-nested-99",   // a nested one
	"adm1n-t0ken",    // the admin token
	"hdr-t0ken-77",   // the sink's token header
}

// consoleEnv is a running pipeline "doors" with source "feed" and webhook
// sinks "crm" and "audit", whose receiver refuses (400, so poisoned at once)
// the events in refuse, and an admin console on it.
type consoleEnv struct {
	pool   *pgxpool.Pool
	feed   *gochannel.GoChannel
	refuse atomic.Value // map[string]bool of event ids crm refuses
	srv    *httptest.Server
	store  *webhook.PostgresEndpoints
}

func newConsoleEnv(t *testing.T) *consoleEnv { return newConsoleEnvOn(t, "postgres") }

// newConsoleEnvOn is newConsoleEnv with the topic on backend: "postgres",
// or "jetstream" on a nats-server of the test's own (the console then
// reads the sinks' depths from JetStream, as the binary's does).
func newConsoleEnvOn(t *testing.T, backend string) *consoleEnv {
	t.Helper()
	env := &consoleEnv{pool: pgtest.NewPool(t)}
	var topics router.Backend = router.Postgres(env.pool)
	label := "PostgreSQL (tables of the database)"
	var depth func(ctx context.Context, pipeline, sink string) (lag, retry int64, err error)
	if backend == "jetstream" {
		srv := natstest.Start(t)
		js := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: env.pool})
		topics, depth, label = js, js.SinkDepth, "NATS JetStream at "+strings.TrimPrefix(srv.URL, "nats://")
	}
	env.refuse.Store(map[string]bool{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/crm") && env.refuse.Load().(map[string]bool)[r.Header.Get("X-Event-Id")] {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"unknown door","echo":"feed-pw-4242"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	env.store = webhook.NewPostgresEndpoints(env.pool)
	dlog := deliverylog.NewPostgres(env.pool)
	sink := func(path string) *webhook.Publisher {
		u := strings.Replace(recv.URL, "http://", "http://hookuser:hunter2@", 1) + path + "?token=tok-url-s3cret"
		p, err := webhook.NewPublisher(webhook.Config{URL: u, AllowPrivateNetworks: true, State: env.store, StateRefresh: 100 * time.Millisecond,
			Secrets: []string{consoleSecrets[0]}, Token: "hdr-t0ken-77", Log: dlog,
			MetadataHeaders: map[string]string{"X-Event-Id": tributary.MetaEventID}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	env.feed = gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	r, err := router.New(router.Config{Backend: topics}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "feed", Source: tributary.FromSubscriber(env.feed, "feed")}},
		Sinks:   []router.Sink{{Name: "crm", Publisher: sink("/crm")}, {Name: "audit", Publisher: sink("/audit")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	infos := []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "feed", Type: "socketio"}},
		Sinks: []ops.ComponentInfo{{Name: "crm", Type: "webhook"}, {Name: "audit", Type: "webhook"}}, Depth: depth}}
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: env.pool, Pipelines: infos, Token: "adm1n-t0ken",
		Secrets: []string{consoleSecrets[0], "feed-pw-4242"}, LiveInterval: 200 * time.Millisecond, DepthSampleEvery: 200 * time.Millisecond,
		Backend: label})
	if err != nil {
		t.Fatal(err)
	}
	env.srv = httptest.NewServer(adm.Handler())
	t.Cleanup(env.srv.Close)
	return env
}

// publish sends events through the source, each with a payload holding
// secrets the pages must hide.
func (env *consoleEnv) publish(t *testing.T, typ string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		msg := tributary.NewEventMessage(id, []byte(`{"door":"`+id+`","note":"opened with feed-pw-4242","api_token":"tok-in-payload",`+
			`"auth":{"password":"pw-nested-99"},"items":[{"secret":"pw-nested-99"}]}`))
		msg.Metadata.Set(tributary.MetaEventType, typ)
		if err := env.feed.Publish("feed", msg); err != nil {
			t.Fatal(err)
		}
	}
}

// attempts counts the delivery log's attempts of event id at sink with the
// outcome ("" for any).
func (env *consoleEnv) attempts(t *testing.T, id, sink, outcome string) int {
	t.Helper()
	var n int
	if err := env.pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_delivery_attempts
		WHERE event_id = $1 AND sink = $2 AND ($3 = '' OR outcome = $3)`, id, sink, outcome).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (env *consoleEnv) do(t *testing.T, method, path string, h map[string]string, form url.Values) (int, string, http.Header) {
	t.Helper()
	headers := map[string]string{"Authorization": "Bearer adm1n-t0ken"}
	for k, v := range h {
		headers[http.CanonicalHeaderKey(k)] = v
	}
	return request(t, env.srv.URL, method, path, headers, form)
}

func noSecrets(t *testing.T, where, page string) {
	t.Helper()
	for _, s := range consoleSecrets {
		if strings.Contains(page, s) {
			t.Errorf("%s shows the secret %q", where, s)
		}
	}
}

var eventLink = regexp.MustCompile(`href="(/events/doors/\d+)"`)

// TestConsoleSearchEventResendBulk: search stored events by id, type and
// time, open one, see each sink's attempts with status, error and response
// body; resend it to one sink (CSRF-checked, recorded with who) and see the
// new attempt; review and confirm a bulk resend of what failed; and no page
// shows a configured secret.
func TestConsoleSearchEventResendBulk(t *testing.T) {
	t.Parallel()
	env := newConsoleEnv(t)
	start := time.Now().Add(-time.Minute)
	env.refuse.Store(map[string]bool{"con-2": true, "con-3": true})
	env.publish(t, "door.opened", "con-1", "con-2")
	env.publish(t, "door.closed", "con-3")
	waitFor(t, 30*time.Second, "every event's attempts", func() bool {
		return env.attempts(t, "con-1", "crm", "success") == 1 && env.attempts(t, "con-2", "crm", "permanent") == 1 &&
			env.attempts(t, "con-3", "crm", "permanent") == 1 && env.attempts(t, "con-3", "audit", "success") == 1
	})

	// con-1 again: the source hands it on a second time, dedup drops it.
	env.publish(t, "door.opened", "con-1")

	// Search.
	tests := []struct {
		name, query string
		want        []string
	}{
		{"all of a pipeline, newest first", "pipeline=doors", []string{"con-3", "con-2", "con-1"}},
		{"by id in every pipeline", "event_id=con-2", []string{"con-2"}},
		{"by type", "pipeline=doors&type=door.opened", []string{"con-2", "con-1"}},
		{"by source", "pipeline=doors&source=feed", []string{"con-3", "con-2", "con-1"}},
		{"by unknown source", "pipeline=doors&source=nope", nil},
		{"by time range", "pipeline=doors&from=" + url.QueryEscape(start.UTC().Format("2006-01-02T15:04")), []string{"con-3", "con-2", "con-1"}},
		{"before anything", "pipeline=doors&until=" + url.QueryEscape(start.UTC().Format(time.RFC3339)), nil},
	}
	rowID := regexp.MustCompile(`<tr data-event="([^"]+)">`)
	for _, tc := range tests {
		code, page, _ := env.do(t, "GET", "/events?"+tc.query, nil, nil)
		var got []string
		for _, m := range rowID.FindAllStringSubmatch(page, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got) // ingest order is not publish order; the offset order is checked below
		slices.Sort(tc.want)
		if code != 200 || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %d %v, want %v", tc.name, code, got, tc.want)
		}
	}
	if code, page, _ := env.do(t, "GET", "/events?pipeline=nope", nil, nil); code != 200 || !strings.Contains(page, `pipeline &#34;nope&#34; is not configured`) {
		t.Errorf("unknown pipeline: %d", code)
	}
	if code, page, _ := env.do(t, "GET", "/events?pipeline=doors&from=yesterday", nil, nil); code != 200 || !strings.Contains(page, "bad time") {
		t.Errorf("bad time: %d", code)
	}
	// Paging: two, then the last one, by keyset.
	page1, next, err := ops.SearchEvents(context.Background(), env.pool, ops.EventFilter{Pipelines: []string{"doors"}, Limit: 2})
	if err != nil || len(page1) != 2 || next == 0 {
		t.Fatalf("page 1: %v next %d %v", page1, next, err)
	}
	page2, next2, err := ops.SearchEvents(context.Background(), env.pool, ops.EventFilter{Pipelines: []string{"doors"}, Limit: 2, Before: next})
	if err != nil || len(page2) != 1 || next2 != 0 || page1[0].Offset <= page1[1].Offset || page1[1].Offset <= page2[0].Offset {
		t.Fatalf("page 2: %v after %v, next %d %v", page2, page1, next2, err)
	}

	// The event page.
	_, page, _ := env.do(t, "GET", "/events?event_id=con-2", nil, nil)
	link := eventLink.FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("no link to con-2:\n%s", page)
	}
	code, page, _ := env.do(t, "GET", link[1], nil, nil)
	for _, want := range []string{`"door": "con-2"`, `"api_token": "[redacted]"`, `"auth": "[redacted]"`, "opened with [redacted]",
		`data-outcome="permanent"`, "<td>400</td>", "unknown door", "tributary_source", "feed", "door.opened",
		`id="resend-crm"`, `id="resend-audit"`, "key held until",
		// the request headers sent, credentials replaced
		`data-header="Webhook-Id">Webhook-Id: con-2<`, `data-header="Idempotency-Key">Idempotency-Key: con-2<`,
		`data-header="X-Event-Id">X-Event-Id: con-2<`, `data-header="Webhook-Signature">Webhook-Signature: [redacted]<`,
		`data-header="Token">Token: [redacted]<`, `data-header="Authorization">Authorization: [redacted]<`,
		// which sources saw it
		`<tr data-source="feed" data-times="1">`} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("event page lacks %q", want)
		}
	}
	if code != 200 {
		t.Fatalf("event page: %d", code)
	}
	if strings.Contains(page, "v1,") || strings.Contains(page, "Basic ") {
		t.Error("event page shows a signature or Basic credentials")
	}
	// con-1 was handed on twice by feed: once stored, once dropped.
	_, list, _ := env.do(t, "GET", "/events?event_id=con-1", nil, nil)
	waitFor(t, 30*time.Second, "con-1's duplicate counted", func() bool {
		_, p, _ := env.do(t, "GET", eventLink.FindStringSubmatch(list)[1], nil, nil)
		return strings.Contains(p, `<tr data-source="feed" data-times="2">`)
	})
	csrf := csrfField.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no form token on the event page")
	}

	// Resend to crm only: refused without the form token or cross-site.
	resend := link[1] + "/resend"
	if code, _, _ := env.do(t, "POST", resend, nil, url.Values{"sink": {"crm"}}); code != http.StatusForbidden {
		t.Fatalf("resend without form token: %d", code)
	}
	if code, _, _ := env.do(t, "POST", resend, map[string]string{"Sec-Fetch-Site": "cross-site"},
		url.Values{"sink": {"crm"}, "csrf": {csrf[1]}}); code != http.StatusForbidden {
		t.Fatalf("cross-site resend: %d", code)
	}
	if code, _, _ := env.do(t, "POST", resend, nil, url.Values{"sink": {"nope"}, "csrf": {csrf[1]}}); code != http.StatusBadRequest {
		t.Fatalf("resend to an unknown sink: %d", code)
	}
	code, _, h := env.do(t, "POST", resend, nil, url.Values{"sink": {"crm"}, "csrf": {csrf[1]}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), link[1]+"?flash=") {
		t.Fatalf("resend: %d %s", code, h.Get("Location"))
	}
	waitFor(t, 30*time.Second, "the resent attempt", func() bool { return env.attempts(t, "con-2", "crm", "permanent") == 2 })
	if n := env.attempts(t, "con-2", "audit", ""); n != 1 {
		t.Fatalf("a resend to crm reached audit: %d attempts", n)
	}
	_, page, _ = env.do(t, "GET", link[1], nil, nil)
	if strings.Count(page, `data-outcome="permanent"`) != 2 || !strings.Contains(page, "admin page from 127.0.0.1") {
		t.Fatalf("event page after resend:\n%s", page)
	}

	// Bulk: review what failed at crm since start, then confirm.
	since := url.QueryEscape(start.UTC().Format(time.RFC3339))
	code, page, _ = env.do(t, "GET", "/resend/failed?pipeline=doors&sink=crm&since="+since, nil, nil)
	if code != 200 || !strings.Contains(page, `<b id="bulk-count">2</b>`) {
		t.Fatalf("bulk preview: %d\n%s", code, page)
	}
	if code, _, _ := env.do(t, "GET", "/resend/failed?pipeline=doors&sink=audit&since="+since, nil, nil); code != 200 {
		t.Fatalf("bulk preview for audit: %d", code)
	}
	form := url.Values{"pipeline": {"doors"}, "sink": {"crm"}, "since": {start.UTC().Format(time.RFC3339)}, "csrf": {csrf[1]}}
	if code, _, _ := env.do(t, "POST", "/resend/failed", nil, form); code != http.StatusBadRequest {
		t.Fatalf("bulk resend without confirmation: %d", code)
	}
	env.refuse.Store(map[string]bool{}) // the receiver is fixed
	form.Set("confirm", "yes")
	code, _, h = env.do(t, "POST", "/resend/failed", nil, form)
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Location"), url.QueryEscape("Resent 2 failed events")) {
		t.Fatalf("bulk resend: %d %s", code, h.Get("Location"))
	}
	waitFor(t, 30*time.Second, "the bulk resend delivered", func() bool {
		return env.attempts(t, "con-2", "crm", "success") == 1 && env.attempts(t, "con-3", "crm", "success") == 1
	})
	if n := env.attempts(t, "con-1", "crm", ""); n != 1 {
		t.Fatalf("bulk resent con-1, which had succeeded: %d attempts", n)
	}
	var bulkRows int
	if err := env.pool.QueryRow(context.Background(), `SELECT count(*) FROM tributary_resends WHERE bulk_id LIKE 'bulk-%' AND sink = 'crm'
		AND requested_by = 'admin page from 127.0.0.1'`).Scan(&bulkRows); err != nil || bulkRows != 2 {
		t.Fatalf("bulk resends recorded: %d %v", bulkRows, err)
	}
	_, page, _ = env.do(t, "GET", "/resend/failed?pipeline=doors&sink=crm&since="+since, nil, nil)
	if !strings.Contains(page, `id="bulk-empty"`) {
		t.Fatalf("bulk preview after the resend still lists events:\n%s", page)
	}
}

// TestConsoleShowsNoSecret fetches every page of the console, including
// the live stream and each event page, and searches each for the
// configured secrets.
func TestConsoleShowsNoSecret(t *testing.T) {
	t.Parallel()
	env := newConsoleEnv(t)
	env.refuse.Store(map[string]bool{"sec-2": true})
	env.publish(t, "door.opened", "sec-1", "sec-2")
	waitFor(t, 30*time.Second, "the attempts", func() bool {
		return env.attempts(t, "sec-1", "crm", "success") == 1 && env.attempts(t, "sec-2", "crm", "permanent") == 1
	})
	since := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	pages := []string{"/", "/events", "/events?event_id=sec-2", "/events?pipeline=doors&type=door.opened", "/endpoints", "/live",
		"/resend/failed?pipeline=doors&sink=crm&since=" + since}
	_, list, _ := env.do(t, "GET", "/events?pipeline=doors", nil, nil)
	var links []string
	for _, l := range eventLink.FindAllStringSubmatch(list, -1) {
		if !slices.Contains(links, l[1]) {
			links = append(links, l[1])
		}
	}
	if len(links) != 2 {
		t.Fatalf("event links: %v", links)
	}
	pages = append(pages, links...)
	for _, p := range pages {
		code, page, _ := env.do(t, "GET", p, nil, nil)
		if code != 200 || len(page) < 200 {
			t.Errorf("%s: %d", p, code)
		}
		noSecrets(t, p, page)
	}
	// The event page of the refused one shows its response body, redacted.
	_, list, _ = env.do(t, "GET", "/events?event_id=sec-2", nil, nil)
	_, page, _ := env.do(t, "GET", eventLink.FindStringSubmatch(list)[1], nil, nil)
	if !strings.Contains(page, "unknown door") || !strings.Contains(page, "[redacted]") {
		t.Errorf("event page of sec-2 lacks its redacted response body:\n%s", page)
	}
	// The first frame of the live stream.
	req, _ := http.NewRequest("GET", env.srv.URL+"/live/stream", nil)
	req.Header.Set("Authorization", "Bearer adm1n-t0ken")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var frame string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			frame = sc.Text()
			break
		}
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" || !strings.Contains(frame, `"sink":"crm"`) {
		t.Fatalf("live frame %q", frame)
	}
	noSecrets(t, "/live/stream", frame)
}

// TestLiveStreamEndsOnClose: Close ends an open live stream, so a server's
// Shutdown does not wait for it.
func TestLiveStreamEndsOnClose(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, LiveInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/live/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 64)
	if _, err := resp.Body.Read(first); err != nil {
		t.Fatal(err)
	}
	_ = adm.Close()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stream ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream is still open after Close")
	}
}
