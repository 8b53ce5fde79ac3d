package builtin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestHTTPSinkSSRFGuard: the http sink dials through the webhook sink's SSRF
// guard, so a loopback receiver is refused (permanently, before any request)
// unless the file sets allow_private_networks.
func TestHTTPSinkSSRFGuard(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, c := range []struct {
		name, allow string
		refused     bool
	}{
		{"guard on by default", "", true},
		{"allow_private_networks: false", ", allow_private_networks: false", true},
		{"allow_private_networks: true", ", allow_private_networks: true", false},
	} {
		cfg, err := load(t, pipelineFile(genSource, `      - name: plain
        type: http
        options: { url: "`+srv.URL+`/plain"`+c.allow+` }
`), nil)
		if err != nil {
			t.Fatal(err)
		}
		pipes, err := cfg.Build(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sink := pipes[0].Sinks[0].Publisher
		before := hits.Load()
		err = sink.Publish("plain", tributary.NewEventMessage("e1", []byte(`{}`)))
		_ = sink.Close()
		if c.refused {
			if !errors.Is(err, webhook.ErrForbiddenAddress) || !middleware.IsPermanent(err) {
				t.Errorf("%s: err %v, want a permanent ErrForbiddenAddress", c.name, err)
			}
			if hits.Load() != before {
				t.Errorf("%s: the receiver was reached", c.name)
			}
		} else if err != nil || hits.Load() != before+1 {
			t.Errorf("%s: err %v, hits %d, want one delivery", c.name, err, hits.Load()-before)
		}
	}
}
