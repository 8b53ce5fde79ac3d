package ops_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/tributary-dev/tributary/sinks/httpsink"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestEchoedCredentialsAppearNowhere: a receiver that refuses every request
// (400, so each event is poisoned at once) and answers with the request's
// headers, JSON-encoded as Go does it (`<` as \u003c). Its webhook sink sends
// Basic credentials (from basic_auth and from the URL's user info), a token
// with `< > & " \` and a signing secret; its http sink an Authorization
// header and URL user info. No credential, nor the base64 of a user:password
// pair, is in any table the console reads or on any of its pages; a
// configured secret with `< > & " \` inside a payload is not on the event's
// page either.
func TestEchoedCredentialsAppearNowhere(t *testing.T) {
	t.Parallel()
	const (
		oddSecret = `odd<&>"\sec-777`
		basicPass = "basic-pw-4411"
		urlPass   = "url-pw-5522"
		httpPass  = "http-pw-6633"
		httpAuth  = "Bearer http-tok-7744"
	)
	secrets := []string{oddSecret, basicPass, urlPass, httpPass, "http-tok-7744",
		base64.StdEncoding.EncodeToString([]byte("hook:" + basicPass)),
		base64.StdEncoding.EncodeToString([]byte("hookurl:" + urlPass)),
		base64.StdEncoding.EncodeToString([]byte("httpuser:" + httpPass)),
		`\u003c&\u003e\"\\sec-777`, "whsec_ZWNoby1zZWNyZXQtZm9yLWNvbnNvbGU="}
	pool := pgtest.NewPool(t)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "echo", "headers": r.Header, "url": r.URL.String()})
	}))
	t.Cleanup(recv.Close)
	withUser := func(user, pass string) string {
		return strings.Replace(recv.URL, "http://", "http://"+user+":"+url.PathEscape(pass)+"@", 1)
	}
	hook, err := webhook.NewPublisher(webhook.Config{URL: withUser("hookurl", urlPass) + "/hook", AllowPrivateNetworks: true,
		BasicAuth: &webhook.BasicAuth{Username: "hook", Password: basicPass}, Token: oddSecret,
		Secrets: []string{secrets[len(secrets)-1]}, Log: deliverylog.NewPostgres(pool)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Close() })
	httpSink := httpsink.New(httpsink.Config{URL: withUser("httpuser", httpPass) + "/http", AllowPrivateNetworks: true,
		Headers: map[string]string{"Authorization": httpAuth}}, "doors", "plain", pool, nil)
	feed := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	r, err := router.New(router.Config{Backend: router.Postgres(pool)}, router.Pipeline{
		Name:    "doors",
		Sources: []router.Source{{Name: "feed", Source: tributary.FromSubscriber(feed, "feed")}},
		Sinks:   []router.Sink{{Name: "hook", Publisher: hook}, {Name: "plain", Publisher: httpSink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	payload, _ := json.Marshal(map[string]string{"note": "the provider quotes " + oddSecret})
	msg := message.NewMessage("echo-1", payload)
	msg.Metadata.Set(tributary.MetaEventID, "echo-1")
	msg.Metadata.Set(tributary.MetaEventType, "door.opened")
	if err := feed.Publish("feed", msg); err != nil {
		t.Fatal(err)
	}
	q := router.NewPoisonQueue(pool)
	// Each sink records its attempt and its poison record in separate
	// writes: wait for both, or a loaded machine reads one attempt early.
	waitFor(t, 30*time.Second, "both sinks to poison the event and log their attempts", func() bool {
		n, _ := q.Count(context.Background(), router.PoisonFilter{})
		var attempts int
		_ = pool.QueryRow(context.Background(), "SELECT count(*) FROM tributary_delivery_attempts").Scan(&attempts)
		return n == 2 && attempts >= 2
	})

	for _, table := range []string{"tributary_delivery_attempts", "tributary_poison", "tributary_endpoints", "tributary_resends"} {
		rows, err := pool.Query(context.Background(), "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			n++
			if table == "tributary_delivery_attempts" && !strings.Contains(row, "echo") {
				t.Errorf("attempt without the echoed body: %s", row)
			}
			for _, s := range secrets {
				if strings.Contains(row, s) || strings.Contains(row, strings.TrimRight(s, "=")) {
					t.Errorf("%s holds %q: %s", table, s, row)
				}
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if table == "tributary_delivery_attempts" && n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	}

	infos := []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "feed", Type: "socketio"}},
		Sinks: []ops.ComponentInfo{{Name: "hook", Type: "webhook"}, {Name: "plain", Type: "http"}}}}
	base := adminServer(t, ops.AdminConfig{Pool: pool, Pipelines: infos, Secrets: []string{oddSecret}})
	_, list, _ := request(t, base, "GET", "/events?pipeline=doors", nil, nil)
	link := eventLink.FindStringSubmatch(list)
	if link == nil {
		t.Fatalf("no event link in %s", list)
	}
	for _, p := range []string{"/", "/events", "/events?event_id=echo-1", "/endpoints", link[1]} {
		code, page, _ := request(t, base, "GET", p, nil, nil)
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		if p == link[1] && (!strings.Contains(page, "echo") || !strings.Contains(page, "the provider quotes")) {
			t.Errorf("the event page lacks the payload or the echoed body:\n%s", page)
		}
		for _, s := range append(secrets, "sec-777") {
			if strings.Contains(page, s) || strings.Contains(page, strings.TrimRight(s, "=")) {
				t.Errorf("%s shows %q", p, s)
			}
		}
	}
}

// TestSourceReasonShowsNoSecret: the reason a source stopped for good (which
// may quote a provider's answer) is shown on the overview without the
// configured secrets, in any of their forms.
func TestSourceReasonShowsNoSecret(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := failures{{Pipeline: "doors", Source: "feed", Reason: `feed answered 401: {"echo":"key pw\u003cLEAK\u003e-5151 refused"}`}}
	infos := []ops.PipelineInfo{{Name: "doors", Sources: []ops.ComponentInfo{{Name: "feed", Type: "batchfeed"}}}}
	base := adminServer(t, ops.AdminConfig{Pool: pgtest.NewPool(t), Pipelines: infos, Sources: m, Gatherer: reg, Secrets: []string{"pw<LEAK>-5151"}})
	_, page, _ := request(t, base, "GET", "/", nil, nil)
	if !strings.Contains(page, "feed answered 401") || strings.Contains(page, "LEAK") {
		t.Fatalf("overview shows the reason %v, a secret %v", strings.Contains(page, "feed answered 401"), strings.Contains(page, "LEAK"))
	}
}
