package ops_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// apiCall sends a JSON request to the endpoints API and decodes the answer.
func apiCall(t *testing.T, base, token, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// subscriptionsAdmin serves the admin handler (token token) on a fresh
// database, its endpoint tests allowed to reach loopback receivers.
func subscriptionsAdmin(t *testing.T, token string, pipelines ...ops.PipelineInfo) (*httptest.Server, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	adm, err := ops.NewAdmin(ops.AdminConfig{Pool: pool, Token: token, Pipelines: pipelines,
		SubscriptionTests: func(string, string) subscriptions.TestOptions {
			return subscriptions.TestOptions{AllowPrivateNetworks: true}
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adm.Handler())
	t.Cleanup(srv.Close)
	return srv, pool
}

// TestEndpointsAPI drives the endpoints API as a product's backend would:
// create (validation errors name their fields; credentials never come back),
// list, update, test each type against a receiver that checks its token,
// rotate, queue, attempts, replay, delete — and nothing without the token.
func TestEndpointsAPI(t *testing.T) {
	t.Parallel()
	recv := pipelinetest.TokenReceiver(t, "tok-s3cret", nil)
	srv, _ := subscriptionsAdmin(t, "admintoken")
	const tok = "admintoken"

	if code, _, raw := apiCall(t, srv.URL, "", "GET", "/api/endpoints", nil); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d %s", code, raw)
	}
	if code, _, raw := apiCall(t, srv.URL, "wrong", "POST", "/api/endpoints", map[string]any{}); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d %s", code, raw)
	}

	code, out, raw := apiCall(t, srv.URL, tok, "POST", "/api/endpoints", map[string]any{
		"pipeline": "comments", "sink": "hooks", "url": "ftp://x", "method": "GET", "types": []string{"ok", ""}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid create: %d %s", code, raw)
	}
	fields := map[string]bool{}
	for _, f := range out["fields"].([]any) {
		fields[f.(map[string]any)["field"].(string)] = true
	}
	for _, want := range []string{"url", "method", "types[1]"} {
		if !fields[want] {
			t.Errorf("no error for field %q: %s", want, raw)
		}
	}
	if code, _, raw := apiCall(t, srv.URL, tok, "POST", "/api/endpoints", map[string]any{"pipeline": "comments", "colour": "red"}); code != http.StatusBadRequest || !strings.Contains(raw, "colour") {
		t.Fatalf("unknown field: %d %s", code, raw)
	}

	code, out, raw = apiCall(t, srv.URL, tok, "POST", "/api/endpoints", map[string]any{
		"id": "ep_api", "pipeline": "comments", "sink": "hooks", "url": recv.URL + "/hook", "method": "POST",
		"types": []string{"comment.created", "comment.updated", "comment.deleted"}, "token": "tok-s3cret",
		"tenant": "acme", "generate_secret": true, "headers": map[string]string{"X-Customer": "42"}})
	if code != http.StatusCreated || out["token"] != subscriptions.Redacted || !strings.HasPrefix(out["generated_secret"].(string), "whsec_") {
		t.Fatalf("create: %d %s", code, raw)
	}
	secret := out["generated_secret"].(string)
	code, _, raw = apiCall(t, srv.URL, tok, "GET", "/api/endpoints?tenant=acme", nil)
	if code != http.StatusOK || !strings.Contains(raw, "ep_api") || strings.Contains(raw, "tok-s3cret") || strings.Contains(raw, secret) {
		t.Fatalf("list: %d %s", code, raw)
	}
	code, _, raw = apiCall(t, srv.URL, tok, "POST", "/api/endpoints/ep_api/test", map[string]any{})
	if code != http.StatusOK || !strings.Contains(raw, `"ok":true`) || strings.Count(raw, `"verified":true`) != 3 ||
		!strings.Contains(raw, `"kind":"delete"`) {
		t.Fatalf("test: %d %s", code, raw)
	}
	code, _, raw = apiCall(t, srv.URL, tok, "PATCH", "/api/endpoints/ep_api", map[string]any{"token": "stale", "rate_limit": 5})
	if code != http.StatusOK || !strings.Contains(raw, `"rate_limit":5`) {
		t.Fatalf("update: %d %s", code, raw)
	}
	code, _, raw = apiCall(t, srv.URL, tok, "POST", "/api/endpoints/ep_api/test", map[string]any{"types": []string{"comment.created"}})
	if code != http.StatusOK || !strings.Contains(raw, `"ok":false`) || !strings.Contains(raw, `"status":401`) {
		t.Fatalf("test with a stale token: %d %s", code, raw)
	}
	code, _, raw = apiCall(t, srv.URL, tok, "PATCH", "/api/endpoints/ep_api", map[string]any{"method": "PUT"})
	if code != http.StatusUnprocessableEntity || !strings.Contains(raw, `"field":"url"`) {
		t.Fatalf("PUT without {id}: %d %s", code, raw)
	}
	code, out, raw = apiCall(t, srv.URL, tok, "POST", "/api/endpoints/ep_api/rotate", map[string]any{"overlap": "1h"})
	if code != http.StatusOK || len(out["secrets"].([]any)) != 2 || strings.Contains(raw, secret) {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	for _, p := range []string{"/api/endpoints/ep_api", "/api/endpoints/ep_api/queue", "/api/endpoints/ep_api/attempts"} {
		if code, _, raw := apiCall(t, srv.URL, tok, "GET", p, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, code, raw)
		}
	}
	if code, _, raw := apiCall(t, srv.URL, tok, "POST", "/api/endpoints/ep_api/replay", map[string]any{"since": "2026-01-01T00:00:00Z"}); code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, raw)
	}
	if code, _, raw := apiCall(t, srv.URL, tok, "DELETE", "/api/endpoints/ep_api", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, raw)
	}
	if code, _, raw := apiCall(t, srv.URL, tok, "GET", "/api/endpoints/ep_api", nil); code != http.StatusNotFound {
		t.Fatalf("get after delete: %d %s", code, raw)
	}
}
