package webhookin_test

import (
	"net/http"
	"testing"

	"github.com/tributary-dev/tributary/sources/webhookin"
)

// TestAuthorizationSchemeIsCaseInsensitive: with the token in
// Authorization, "bearer x" is "Bearer x" (RFC 9110 §11.1), while the token
// itself still has to match exactly.
func TestAuthorizationSchemeIsCaseInsensitive(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	src := newSource(t, webhookin.Config{Token: "Bearer tok-1234", TokenHeader: "Authorization"})
	url, _, pool := runPipeline(t, src)
	for _, tt := range []struct {
		id, auth string
		want     int
	}{
		{"s1", "Bearer tok-1234", 200},
		{"s2", "bearer tok-1234", 200},
		{"s3", "BEARER tok-1234", 200},
		{"s4", "bearer TOK-1234", 401},
		{"s5", "Basic tok-1234", 401},
		{"s6", "tok-1234", 401},
	} {
		body := `{"id":"` + tt.id + `"}`
		if resp := post(t, url, body, http.Header{"Authorization": {tt.auth}}); resp.StatusCode != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, resp.StatusCode, tt.want)
		}
		if want := map[bool]int{true: 1}[tt.want == 200]; storedCount(t, pool, tt.id) != want {
			t.Errorf("Authorization %q: stored %d times, want %d", tt.auth, storedCount(t, pool, tt.id), want)
		}
	}
}
