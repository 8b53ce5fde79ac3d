package ops_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestAdminEndpointToggle: the admin page lists a webhook endpoint disabled
// by a 410 (without the URL's secrets) and enables and disables it with a
// POST that needs the page's form token and a same-origin request; the
// running sink follows.
func TestAdminEndpointToggle(t *testing.T) {
	t.Parallel()
	var gone atomic.Bool
	gone.Store(true)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	pool := pgtest.NewPool(t)
	store := webhook.NewPostgresEndpoints(pool)
	u := strings.Replace(recv.URL, "http://", "http://hookuser:hunter2@", 1) + "/in?token=tok-s3cret"
	sink, err := webhook.NewPublisher(webhook.Config{URL: u, AllowPrivateNetworks: true, State: store, StateRefresh: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	send := func(id string) error {
		msg := tributary.NewEventMessage(id, []byte(`{}`))
		msg.Metadata.Set(tributary.MetaPipeline, "doors")
		return sink.Publish("crm", msg)
	}
	if err := send("e1"); !errors.Is(err, webhook.ErrEndpointDisabled) {
		t.Fatalf("410: %v", err)
	}

	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	defer srv.Close()
	do := func(method, path string, h map[string]string, form url.Values) (int, string) {
		code, body, _ := request(t, srv.URL, method, path, h, form)
		return code, body
	}
	bearer := map[string]string{"Authorization": "Bearer s3cret"}
	stateOf := func() webhook.State {
		st, err := store.Get(context.Background(), "doors", "crm")
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}

	code, page := do("GET", "/", bearer, nil)
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil || !strings.Contains(page, `data-pipeline="doors" data-sink="crm" data-state="disabled"`) ||
		!strings.Contains(page, "410 Gone") {
		t.Fatalf("page: %d\n%s", code, page)
	}
	for _, secret := range []string{"hunter2", "hookuser", "tok-s3cret"} {
		if strings.Contains(page, secret) {
			t.Fatalf("the page shows %q", secret)
		}
	}
	enable := url.Values{"pipeline": {"doors"}, "sink": {"crm"}, "state": {"enabled"}}
	if code, _ := do("POST", "/endpoints/state", bearer, enable); code != http.StatusForbidden {
		t.Fatalf("enable without the form token: %d", code)
	}
	enable.Set("csrf", m[1])
	cross := map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}
	if code, _ := do("POST", "/endpoints/state", cross, enable); code != http.StatusForbidden {
		t.Fatalf("cross-site enable: %d", code)
	}
	if code, _ := do("POST", "/endpoints/state", nil, enable); code != http.StatusUnauthorized {
		t.Fatalf("enable without the admin token: %d", code)
	}
	if s := stateOf(); s != webhook.StateDisabled {
		t.Fatalf("a refused request changed the state to %s", s)
	}

	gone.Store(false)
	if code, _ := do("POST", "/endpoints/state", bearer, enable); code != http.StatusSeeOther {
		t.Fatalf("enable: %d", code)
	}
	if s := stateOf(); s != webhook.StateEnabled {
		t.Fatalf("state after enable: %s", s)
	}
	time.Sleep(100 * time.Millisecond) // > StateRefresh
	if err := send("e2"); err != nil {
		t.Fatalf("after enable on the page: %v", err)
	}
	_, page = do("GET", "/", bearer, nil)
	if !strings.Contains(page, `data-state="enabled"`) || !strings.Contains(page, ">Disable</button>") {
		t.Fatalf("page after enable:\n%s", page)
	}
	disable := url.Values{"pipeline": {"doors"}, "sink": {"crm"}, "state": {"disabled"}, "csrf": {m[1]}}
	if code, _ := do("POST", "/endpoints/state", bearer, disable); code != http.StatusSeeOther || stateOf() != webhook.StateDisabled {
		t.Fatalf("disable: %d, state %s", code, stateOf())
	}
	bad := url.Values{"pipeline": {"doors"}, "sink": {"crm"}, "state": {"off"}, "csrf": {m[1]}}
	if code, _ := do("POST", "/endpoints/state", bearer, bad); code != http.StatusBadRequest {
		t.Fatalf("bad state: %d", code)
	}
}
