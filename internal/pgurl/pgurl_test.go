package pgurl

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Setenv("PGDATABASE", "")
	cases := []struct {
		s  string
		ok bool
	}{
		{"", false},
		{"   ", false},
		{"postgres://u@h:5432", false},
		{"postgres://u@h:5432/", false},
		{"postgres://u@h:5432/?sslmode=disable", false},
		{"host=/tmp user=u", false},
		{"dbname= host=h", false},
		{"postgres://u@h:5432/app?sslmode=disable", true},
		{"postgresql://u:p@h/app", true},
		{"postgres://u@h/?dbname=app", true},
		{"host=h dbname=app", true},
		{"host=h dbname='app'", true},
	}
	for _, c := range cases {
		err := Check(c.s)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrNoDatabase)) {
			t.Errorf("Check(%q) = %v, want ok %v", c.s, err, c.ok)
		}
	}
	t.Setenv("PGDATABASE", "app")
	if err := Check(""); err != nil {
		t.Errorf("Check(\"\") with PGDATABASE set = %v", err)
	}
}
