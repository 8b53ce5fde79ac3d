package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tributary-dev/tributary"

// rules say where dependencies may not point, for every package (not its
// tests) and everything it pulls in: sources and sinks import neither each
// other nor the router, and what a source and a sink of one protocol share
// (socketio/client, webhook/signature) imports none of them; the router
// and middleware sit below the components that plug into them.
var rules = []struct {
	from      string   // a package path below the module, and those under it
	forbidden []string // likewise
}{
	{"sinks", []string{"router", "sources"}},
	{"sources", []string{"router", "sinks"}},
	{"socketio", []string{"router", "sources", "sinks"}},
	{"webhook", []string{"router", "sources", "sinks"}},
	{"router", []string{"sources", "sinks"}},
	{"middleware", []string{"router", "sources", "sinks"}},
	{"brokers", []string{"router", "sources"}},
	// The layers above: the registry and the file loader never reach the
	// command line or the admin page; the admin page reads the router and
	// the sinks, never the file; a source's test kit needs nothing but the
	// contract.
	{"components", []string{"cli", "config", "ops"}},
	{"config", []string{"cli", "ops"}},
	{"ops", []string{"cli", "config"}},
	{"internal", []string{"cli", "config", "ops"}},
	{"tributarytest", []string{"router", "sources", "sinks", "components", "config", "cli", "ops"}},
}

type pkg struct {
	ImportPath string
	Deps       []string // transitive, without test files
}

// under reports whether path is rel (below the module) or a package under it.
func under(path, rel string) bool {
	full := module + "/" + rel
	return path == full || strings.HasPrefix(path, full+"/")
}

// internalPkg reports whether path is an internal package (test helpers may
// import testing there; users cannot import them).
func internalPkg(path string) bool {
	return strings.Contains(path+"/", "/internal/")
}

// testKit reports whether path is a public test kit (a package named
// <something>test, such as tributarytest): it is for users' tests and
// imports testing by design; no other public package may.
func testKit(path string) bool {
	return strings.HasSuffix(path[strings.LastIndex(path, "/")+1:], "test")
}

// violations lists every dependency the rules forbid, and every public
// package that pulls in "testing" (it would end up in users' binaries and
// register test flags).
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.ImportPath, r.from) {
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if under(d, f) {
						out = append(out, fmt.Sprintf("%s depends on %s (%s/ must not depend on %s/)", p.ImportPath, d, r.from, f))
					}
				}
			}
		}
		if internalPkg(p.ImportPath) || testKit(p.ImportPath) {
			continue
		}
		for _, d := range p.Deps {
			if d == "testing" {
				out = append(out, fmt.Sprintf("%s depends on testing: test helpers belong under internal/", p.ImportPath))
			}
		}
	}
	return out
}

// list runs `go list -json` over the whole module.
func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestDependenciesPointOneWay(t *testing.T) {
	pkgs := list(t)
	// The rules must have something to judge: an empty or partial listing
	// would pass vacuously.
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	for _, want := range []string{"sinks/webhook", "sinks/socketcommand", "sources/socketio", "sources/webhookin", "socketio/client", "webhook/signature", "router", "middleware", "ops", "config", "components", "tributarytest", "internal/pipelinetest"} {
		if !seen[module+"/"+want] {
			t.Fatalf("go list did not list %s", want)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestViolationsAreReported checks the checker on made-up packages, each
// breaking one rule, next to ones that break none.
func TestViolationsAreReported(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		p    pkg
		want string // "" when allowed
	}{
		{"sink imports the router", pkg{module + "/sinks/x", []string{module + "/router"}}, "must not depend on router/"},
		{"sink imports a router subpackage", pkg{module + "/sinks/x", []string{module + "/router/pgtopic"}}, "must not depend on router/"},
		{"sink imports a source", pkg{module + "/sinks/x", []string{module + "/sources/socketio"}}, "must not depend on sources/"},
		{"source imports a sink", pkg{module + "/sources/x", []string{module + "/sinks/webhook"}}, "must not depend on sinks/"},
		{"shared client imports a source", pkg{module + "/socketio/client", []string{module + "/sources/socketio"}}, "must not depend on sources/"},
		{"public package imports testing", pkg{module + "/sinks/x/peer", []string{"testing"}}, "depends on testing"},
		{"internal package imports testing", pkg{module + "/internal/sigpeer", []string{"testing"}}, ""},
		{"test kit imports testing", pkg{module + "/tributarytest", []string{"testing"}}, ""},
		{"test kit imports the router", pkg{module + "/tributarytest", []string{module + "/router"}}, "must not depend on router/"},
		{"registry imports the loader", pkg{module + "/components", []string{module + "/config"}}, "must not depend on config/"},
		{"admin page imports the loader", pkg{module + "/ops", []string{module + "/config"}}, "must not depend on config/"},
		{"sink imports middleware and a sink", pkg{module + "/sinks/x", []string{module + "/middleware", module + "/sinks/deliverylog"}}, ""},
		{"source imports the shared client", pkg{module + "/sources/x", []string{module + "/socketio/client", module + "/webhook/signature"}}, ""},
		{"a name that only starts alike", pkg{module + "/sinks/x", []string{module + "/routerx"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := violations([]pkg{c.p})
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("reported %q, want nothing", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Errorf("reported %q, want one naming %q", got, c.want)
			}
		})
	}
}
