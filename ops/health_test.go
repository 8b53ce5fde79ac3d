package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tributary-dev/tributary/ops"
)

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	var dbDown atomic.Bool
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	h := ops.Handler(reg,
		ops.Check{Name: "router", Check: func(context.Context) error { return nil }},
		ops.Check{Name: "database", Check: func(context.Context) error {
			if dbDown.Load() {
				return errors.New("connection refused")
			}
			return nil
		}},
	)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	dbDown.Store(true)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") || !strings.Contains(body, `"router":"ok"`) {
		t.Fatalf("/readyz with the database down: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d", code)
	}
}
