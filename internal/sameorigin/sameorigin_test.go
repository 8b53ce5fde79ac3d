package sameorigin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/tributary-dev/tributary/internal/sameorigin"
)

// TestClientRefusesForeignRedirects: a redirect is followed on the API's
// origin only; one to another host, another port or another scheme is
// refused before any request goes there, and the caller's own redirect
// policy still applies.
func TestClientRefusesForeignRedirects(t *testing.T) {
	t.Parallel()
	var foreign atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign.Add(1)
	}))
	t.Cleanup(elsewhere.Close)
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/here":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
		case "/scheme":
			http.Redirect(w, r, "https://"+r.Host+"/ok", http.StatusFound)
		}
	}))
	t.Cleanup(api.Close)
	base, _ := url.Parse(api.URL)
	errInner := errors.New("inner policy")
	tests := []struct {
		path    string
		inner   func(*http.Request, []*http.Request) error
		wantErr error
	}{
		{"/here", nil, nil},
		{"/away", nil, sameorigin.ErrForeignRedirect},
		{"/scheme", nil, sameorigin.ErrForeignRedirect},
		{"/loop", nil, nil}, // stopped: checked below by message
		{"/here", func(*http.Request, []*http.Request) error { return errInner }, errInner},
	}
	for _, tt := range tests {
		c := sameorigin.Client(&http.Client{CheckRedirect: tt.inner}, base)
		resp, err := c.Get(api.URL + tt.path)
		if err == nil {
			resp.Body.Close()
		}
		switch {
		case tt.path == "/loop":
			if err == nil {
				t.Errorf("%s: a redirect loop was followed for ever", tt.path)
			}
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: got %v, want %v", tt.path, err, tt.wantErr)
		}
	}
	if n := foreign.Load(); n != 0 {
		t.Fatalf("%d requests reached the other host", n)
	}
}
