package cli

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	want := versionLine(buildInfo())
	if !strings.HasPrefix(want, "tributary ") {
		t.Fatalf("versionLine = %q", want)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errs := execute(t, nil, args...)
		if code != ExitOK || strings.TrimSpace(out) != want {
			t.Errorf("%v: exit %d, out %q, want %q (stderr %q)", args, code, out, want, errs)
		}
	}
	code, out, _ := execute(t, nil, "--json", "version")
	if code != ExitOK || !strings.Contains(out, `"version"`) || !strings.Contains(out, `"go"`) {
		t.Errorf("--json version: exit %d, %s", code, out)
	}
}

func TestVersionLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		info map[string]string
		want string
	}{
		{map[string]string{"version": "v0.1.0", "go": "go1.26.0"}, "tributary v0.1.0 (go1.26.0)"},
		{map[string]string{"version": "v0.1.0", "go": "go1.26.0", "commit": "0123456789abcdef", "modified": "true"},
			"tributary v0.1.0 (commit 0123456789ab+modified, go1.26.0)"},
		{map[string]string{"version": "v0.2.0", "go": "go1.26.0", "program": "example.com/mine"},
			"tributary v0.2.0 (go1.26.0, in example.com/mine)"},
	}
	for _, c := range cases {
		if got := versionLine(c.info); got != c.want {
			t.Errorf("versionLine(%v) = %q, want %q", c.info, got, c.want)
		}
	}
}
