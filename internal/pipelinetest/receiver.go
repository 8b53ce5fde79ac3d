package pipelinetest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TokenReceiver is a loopback HTTP receiver that checks a token the way
// seed 003 asks receivers to: 204 when header "token" carries token, 401
// otherwise. seen, when not nil, gets each accepted request. It closes when
// tb ends.
func TokenReceiver(tb testing.TB, token string, seen func(*http.Request)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if seen != nil {
			seen(r)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	return srv
}
