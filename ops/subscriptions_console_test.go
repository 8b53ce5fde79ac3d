package ops_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestSubscriptionsConsoleFlow walks the seed's page over HTTP: add an
// endpoint, send the three test payloads (right key 2xx, wrong key 401),
// watch a delivery arrive in its queue and attempts, disable it.
func TestSubscriptionsConsoleFlow(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	recv := pipelinetest.TokenReceiver(t, "tok-s3cret", func(r *http.Request) {
		if r.Header.Get("X-Tributary-Event-Type") == "" || !strings.HasPrefix(r.Header.Get("Webhook-Id"), "test_") {
			got <- r.Header.Get("Webhook-Id")
		}
	})
	srv, pool := subscriptionsAdmin(t, "admintoken", ops.PipelineInfo{Name: "comments", Sinks: []ops.ComponentInfo{{Name: "hooks", Type: "subscriptions"}}})
	auth := map[string]string{"Authorization": "Bearer admintoken"}
	csrfRE := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

	code, page, _ := request(t, srv.URL, "GET", "/subscriptions", auth, nil)
	m := csrfRE.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("list page: %d\n%s", code, page)
	}
	csrf := m[1]
	code, page, _ = request(t, srv.URL, "POST", "/subscriptions", auth, url.Values{"csrf": {csrf}, "pipeline": {"comments"},
		"sink": {"hooks"}, "url": {"ftp://nope"}, "types": {"comment.created"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "url: want an absolute") {
		t.Fatalf("invalid add: %d\n%s", code, page)
	}
	code, page, _ = request(t, srv.URL, "POST", "/subscriptions", auth, url.Values{"csrf": {csrf}, "pipeline": {"comments"},
		"sink": {"hooks"}, "url": {recv.URL + "/hook"}, "types": {"comment.created, comment.updated, comment.deleted"},
		"token": {"tok-s3cret"}, "generate_secret": {"1"}})
	id := regexp.MustCompile(`<tr><th>Id</th><td>(ep_[a-z0-9_-]+)</td>`).FindStringSubmatch(page)
	if code != http.StatusOK || id == nil || !strings.Contains(page, `id="generated-secret"`) || strings.Contains(page, "tok-s3cret") {
		t.Fatalf("add: %d\n%s", code, page)
	}
	epID := id[1]
	for _, typ := range []string{"comment.created", "comment.updated", "comment.deleted"} {
		code, page, _ = request(t, srv.URL, "POST", "/subscriptions/"+epID+"/test", auth, url.Values{"csrf": {csrf}, "type": {typ}})
		if code != http.StatusOK || !strings.Contains(page, `data-type="`+typ+`" data-verified="true"`) || !strings.Contains(page, "<td>401</td>") {
			t.Fatalf("test %s: %d\n%s", typ, code, page)
		}
	}

	sink, err := subscriptions.NewSink(subscriptions.Config{Pool: pool, Pipeline: "comments", Sink: "hooks", AllowPrivateNetworks: true,
		PollInterval: 100 * time.Millisecond, Log: webhook.NewPostgresLog(pool)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	pipelinetest.WaitFor(t, 30*time.Second, "the sink to load the endpoint", func() bool { ids, _ := sink.Endpoints(); return len(ids) == 1 })
	msg := tributary.NewEventMessage("c-1", []byte(`{"id":"c-1","text":"hello"}`))
	msg.Metadata.Set(tributary.MetaEventType, "comment.created")
	msg.Metadata.Set(tributary.MetaPipeline, "comments") // as the router sets it
	// The event as the topic stored it, for the attempt's link to its page.
	var offset int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO tributary_messages (topic, uuid, payload, metadata)
		VALUES ('tributary.comments', $1, $2, '{"tributary_event_id":"c-1"}') RETURNING "offset"`, msg.UUID, msg.Payload).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	if err := sink.Publish("hooks", msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
	}
	pipelinetest.WaitFor(t, 30*time.Second, "the delivery on the endpoint's page", func() bool {
		_, page, _ = request(t, srv.URL, "GET", "/subscriptions/"+epID, auth, nil)
		return strings.Contains(page, `<td>c-1</td><td>comment.created</td><td class="delivered">delivered</td>`) &&
			strings.Contains(page, `<td class="success">success</td>`)
	})
	// The attempt links to the event's page.
	link := `<a class="event-link" href="/events/comments/` + strconv.FormatInt(offset, 10) + `"><code>c-1</code></a>`
	if attempts := regexp.MustCompile(`(?s)<table id="attempts">.*?</table>`).FindString(page); !strings.Contains(attempts, link) {
		t.Errorf("the attempt does not link to its event page (%s):\n%s", link, attempts)
	}
	code, page, _ = request(t, srv.URL, "POST", "/subscriptions/"+epID+"/state", auth, url.Values{"csrf": {csrf}, "enabled": {"false"}, "reason": {"maintenance"}})
	if code != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", code, page)
	}
	_, page, _ = request(t, srv.URL, "GET", "/subscriptions/"+epID, auth, nil)
	if !strings.Contains(page, "disabled: maintenance") {
		t.Fatalf("after disable:\n%s", page)
	}
	if code, _, _ := request(t, srv.URL, "POST", "/subscriptions/"+epID+"/state", auth, url.Values{"enabled": {"true"}}); code != http.StatusForbidden {
		t.Fatalf("a form without its token: %d, want 403", code)
	}
}
