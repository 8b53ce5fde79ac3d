package batchfeed

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/tributary-dev/tributary/internal/sameorigin"
)

// TestRedirectToAnotherHostRefused: a feed API that redirects next or
// complete to another host gets an error, and that host sees no request —
// so neither the tenant header, the bearer token nor the Referer reaches
// it; a redirect on the API's own origin is followed. Before, batchfeed
// followed any redirect (etagpoll already refused them; both use package
// sameorigin now).
func TestRedirectToAnotherHostRefused(t *testing.T) {
	t.Parallel()
	var foreign atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(elsewhere.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/eventnotifications/v2/away/next", "/eventnotifications/v2/away/b1/complete":
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
		case "/eventnotifications/v2/here/next":
			http.Redirect(w, r, "/moved/next", http.StatusTemporaryRedirect)
		case "/moved/next":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)
	ctx := context.Background()
	cfg := Config{BaseURL: api.URL, TokenSource: StaticToken("tok"), TenantID: "tenant-1"}

	cfg.FeedID = "away"
	c := testClient(t, cfg)
	if _, err := c.Next(ctx); !errors.Is(err, sameorigin.ErrForeignRedirect) {
		t.Fatalf("next redirected to another host: %v, want ErrForeignRedirect", err)
	}
	if err := c.Complete(ctx, "b1"); !errors.Is(err, sameorigin.ErrForeignRedirect) {
		t.Fatalf("complete redirected to another host: %v, want ErrForeignRedirect", err)
	}
	if n := foreign.Load(); n != 0 {
		t.Fatalf("the other host got %d requests (with the tenant header and token)", n)
	}
	cfg.FeedID = "here"
	if b, err := testClient(t, cfg).Next(ctx); err != nil || b != nil {
		t.Fatalf("redirect on the API's origin: %v, %v; want an empty feed", b, err)
	}
}
