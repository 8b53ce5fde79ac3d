package cli

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestEndpointsCommands: a 410 disables a webhook endpoint; `endpoints
// list` shows it disabled without the URL's secrets; `endpoints enable`
// re-enables it and the running sink delivers again; `disable` stops it.
func TestEndpointsCommands(t *testing.T) {
	t.Parallel()
	var gone atomic.Bool
	gone.Store(true)
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got.Add(1)
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, dbURL)
	env := map[string]string{"DATABASE_URL": dbURL, "USER": "ops"}
	u := strings.Replace(recv.URL, "http://", "http://hookuser:hunter2@", 1) + "/in?token=tok-s3cret&x=1"
	sink, err := webhook.NewPublisher(webhook.Config{URL: u, AllowPrivateNetworks: true,
		State: webhook.NewPostgresEndpoints(pool), StateRefresh: 50 * time.Millisecond}, nil)
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

	code, out, errs := execute(t, env, "endpoints", "list")
	if code != ExitOK || !strings.Contains(out, "doors") || !strings.Contains(out, "crm") || !strings.Contains(out, "disabled") ||
		!strings.Contains(out, "410") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	for _, secret := range []string{"hunter2", "hookuser", "tok-s3cret"} {
		if strings.Contains(out+errs, secret) {
			t.Fatalf("list shows %q:\n%s", secret, out)
		}
	}
	code, out, _ = execute(t, env, "--json", "endpoints", "list", "--state", "disabled")
	var rows []webhook.EndpointState
	if err := json.Unmarshal([]byte(out), &rows); code != ExitOK || err != nil || len(rows) != 1 ||
		rows[0].Endpoint != recv.URL+"/in?token=[redacted]&x=[redacted]" {
		t.Fatalf("list --json: exit %d, %v: %s", code, err, out)
	}

	gone.Store(false)
	code, out, errs = execute(t, env, "endpoints", "enable", "--pipeline", "doors", "--sink", "crm")
	if code != ExitOK || !strings.Contains(out, "enabled") || strings.Contains(out, "hunter2") {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errs)
	}
	time.Sleep(100 * time.Millisecond) // > StateRefresh
	if err := send("e2"); err != nil {
		t.Fatalf("after enable: %v", err)
	}

	code, _, errs = execute(t, env, "endpoints", "disable", "--pipeline", "doors", "--sink", "crm", "--reason", "partner offboarded")
	if code != ExitOK {
		t.Fatalf("disable: exit %d: %s", code, errs)
	}
	time.Sleep(100 * time.Millisecond)
	before := got.Load()
	if err := send("e3"); !errors.Is(err, webhook.ErrEndpointDisabled) || !strings.Contains(err.Error(), "partner offboarded") {
		t.Fatalf("after disable: %v", err)
	}
	if got.Load() != before {
		t.Fatal("a disabled endpoint got a request")
	}
	_, out, _ = execute(t, env, "endpoints", "list", "--pipeline", "doors")
	if !strings.Contains(out, "cli: ops@") || !strings.Contains(out, "partner offboarded") {
		t.Fatalf("list after disable:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"endpoints", "enable", "--pipeline", "doors", "--sink", "nope"}, ExitNotFound},
		{[]string{"endpoints", "enable", "--pipeline", "doors"}, ExitUsage},
		{[]string{"endpoints", "list", "--state", "off"}, ExitUsage},
	} {
		if code, out, errs := execute(t, env, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errs)
		}
	}
}
