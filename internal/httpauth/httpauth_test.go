package httpauth_test

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/httpauth"
)

func TestBearer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, token string
		ok        bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	} {
		if tok, ok := httpauth.Bearer(c.in); tok != c.token || ok != c.ok {
			t.Errorf("Bearer(%q) = %q, %v; want %q, %v", c.in, tok, ok, c.token, c.ok)
		}
	}
}

func TestSameScheme(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want, out string }{
		{"bearer tok", "Bearer tok", "Bearer tok"},
		{"BEARER Tok", "Bearer tok", "Bearer Tok"}, // the credentials keep their case
		{"Bearer tok", "Bearer tok", "Bearer tok"},
		{"Basic tok", "Bearer tok", "Basic tok"},
		{"tok", "tok", "tok"},
		{"bearer tok", "tok", "bearer tok"},
	} {
		if out := httpauth.SameScheme(c.got, c.want); out != c.out {
			t.Errorf("SameScheme(%q, %q) = %q; want %q", c.got, c.want, out, c.out)
		}
	}
}
