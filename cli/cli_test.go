package cli

import (
	"bytes"
	"context"
	"errors"
	"github.com/tributary-dev/tributary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// Fake types exercise the optional-interface seam that the webhook sink
// (Tester) and the batch feed source (Discarder) will fill.
type fakeTesterOptions struct {
	Pass bool `yaml:"pass"`
}

type fakeTester struct{ pass bool }

func (f fakeTester) Publish(string, ...*message.Message) error { return nil }
func (f fakeTester) Close() error                              { return nil }
func (f fakeTester) Test(context.Context) (components.TestResult, error) {
	return components.TestResult{Checks: []components.Check{
		{Name: "right token → 2xx", OK: true, Detail: "200"},
		{Name: "wrong token → 401", OK: f.pass, Detail: "got 200"},
	}}, nil
}

type fakeFeed struct{}

func (fakeFeed) Start(context.Context, tributary.Emit, func(error)) error {
	return errors.New("not for running")
}
func (fakeFeed) DiscardAll(_ context.Context, req components.DiscardRequest) (components.DiscardResult, error) {
	if !req.Confirm {
		return components.DiscardResult{}, errors.New("not confirmed")
	}
	return components.DiscardResult{Count: 42}, nil
}

func init() {
	components.RegisterSink("fake-tester", "test double", func(_ components.Env, o *fakeTesterOptions) (message.Publisher, error) {
		return fakeTester{pass: o.Pass}, nil
	})
	components.RegisterSource("fake-feed", "test double", func(components.Env, *struct{}) (tributary.Source, error) {
		return fakeFeed{}, nil
	})
}

func execute(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString(err.Error())
	}
	return codeOf(err), out.String(), errb.String()
}

func TestOptionalInterfaceCommands(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(`pipelines:
  - name: p
    sources: [{ name: feed, type: fake-feed }]
    sinks:
      - { name: good, type: fake-tester, options: { pass: true } }
      - { name: bad, type: fake-tester }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)}
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"webhook", "test", "-c", file, "--pipeline", "p", "--sink", "good"}, ExitOK, "wrong token → 401"},
		{[]string{"webhook", "test", "-c", file, "--pipeline", "p", "--sink", "bad"}, ExitCheckFailed, "FAILED"},
		{[]string{"--json", "webhook", "test", "-c", file, "--pipeline", "p", "--sink", "bad"}, ExitCheckFailed, `"ok": false`},
		{[]string{"webhook", "test", "-c", file, "--pipeline", "q", "--sink", "good"}, ExitNotFound, "no such"},
		{[]string{"feed", "discard", "-c", file, "--pipeline", "p", "--source", "feed", "--yes"}, ExitOK, "discarded 42 pending events"},
		{[]string{"feed", "discard", "-c", file, "--pipeline", "p", "--source", "feed"}, ExitUsage, "--yes"},
		{[]string{"types"}, ExitOK, "fake-tester"},
	}
	for _, c := range cases {
		code, out, errs := execute(t, db, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.out) {
			t.Errorf("%v: exit %d, want %d with %q\nout: %s\nerr: %s", c.args, code, c.code, c.out, out, errs)
		}
	}
}

func TestAdminListenAddr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr, token, want string
		code              int
	}{
		{"", "", "", 0},
		{":8081", "", "127.0.0.1:8081", 0},
		{"127.0.0.1:8081", "", "127.0.0.1:8081", 0},
		{"[::1]:8081", "", "[::1]:8081", 0},
		{"localhost:8081", "", "localhost:8081", 0},
		{"0.0.0.0:8081", "", "", ExitUsage},
		{"0.0.0.0:8081", "t", "0.0.0.0:8081", 0},
		{"10.1.2.3:8081", "", "", ExitUsage},
		{"8081", "", "", ExitUsage},
	}
	for _, c := range cases {
		got, err := adminListenAddr(c.addr, c.token)
		if got != c.want || codeOf(err) != c.code {
			t.Errorf("adminListenAddr(%q, %q) = %q, %v; want %q, exit %d", c.addr, c.token, got, err, c.want, c.code)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	u := "postgres://app:hunter2@db.example:5432/prod?sslmode=require"
	if got := redactURL(u); strings.Contains(got, "hunter2") || got != "app@db.example:5432/prod" {
		t.Fatalf("redactURL = %q", got)
	}
	if got := redactErr(errors.New("failed to connect to app:hunter2@db"), u).Error(); strings.Contains(got, "hunter2") {
		t.Fatalf("redactErr = %q", got)
	}
}
