package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/middleware"
)

// TestBrokenFiles loads every file in testdata/broken and compares the
// reported problems with the file's own `# want:` lines (exact) or
// `# want-prefix:` lines (for messages worded by the YAML parser).
func TestBrokenFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/broken/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			var prefix []bool
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want, prefix = append(want, w), append(prefix, false)
				}
				if w, ok := strings.CutPrefix(line, "# want-prefix: "); ok {
					want, prefix = append(want, w), append(prefix, true)
				}
			}
			_, err = config.Load(filepath.Base(path), data, func(string) (string, bool) { return "", false })
			if err == nil {
				t.Fatal("loaded without error")
			}
			es, ok := config.AsErrors(err)
			if !ok {
				t.Fatalf("error without position: %v", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if len(got) != len(want) {
				t.Fatalf("got %d problems, want %d:\n got: %s\nwant: %s", len(got), len(want), strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
			for i := range want {
				if (prefix[i] && !strings.HasPrefix(got[i], want[i])) || (!prefix[i] && got[i] != want[i]) {
					t.Errorf("problem %d:\n got: %s\nwant: %s", i, got[i], want[i])
				}
			}
		})
	}
}

func TestQuickstartDecodesIntoGoValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{"RECEIVER_TOKEN": "s3cret"}
	data, err := os.ReadFile("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("quickstart.yaml", data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pipelines) != 1 {
		t.Fatalf("%d pipelines", len(cfg.Pipelines))
	}
	p := cfg.Pipelines[0].Template
	if p.Name != "doors" || p.Dedup.TTL != 168*time.Hour {
		t.Fatalf("pipeline %+v", p)
	}
	want := middleware.Schedule{Kind: middleware.ScheduleExponential, Base: 5 * time.Second, Max: 10 * time.Minute, Retries: 8, Jitter: 0.2}
	if p.Retry.Schedule.Kind != want.Kind || p.Retry.Schedule.Base != want.Base || p.Retry.Schedule.Max != want.Max ||
		p.Retry.Schedule.Retries != want.Retries || p.Retry.Schedule.Jitter != want.Jitter {
		t.Fatalf("schedule %+v, want %+v", p.Retry.Schedule, want)
	}
	if ip := p.Retry.InProcess; ip == nil || ip.MaxRetries != 3 || ip.InitialInterval != 100*time.Millisecond || ip.Multiplier != 2 {
		t.Fatalf("in-process retry %+v", ip)
	}
	sink := p.Sinks[0]
	if sink.Retry == nil || sink.Retry.Schedule.Kind != middleware.ScheduleLinear || sink.Retry.Schedule.Step != time.Minute || sink.Retry.Schedule.Retries != 5 {
		t.Fatalf("sink retry %+v", sink.Retry)
	}
	if got := cfg.Pipelines[0].SinkTypes[0].Type; got != "webhook" {
		t.Fatalf("sink type %q", got)
	}
	opts := cfg.Pipelines[0].SinkTypes[0].Options()
	s := strings.ReplaceAll(strings.ReplaceAll(fmtAny(opts), " ", ""), "\n", "")
	if !strings.Contains(s, "Bearers3cret") || !strings.Contains(s, "http://127.0.0.1:8090/webhook") || !strings.Contains(s, "whsec_") {
		t.Fatalf("options not interpolated: %s", s)
	}
}

// TestInterpolatedScalarsTakeTheFieldsType: ${ENV} fills integer, boolean
// and number fields too; strings that look like numbers stay strings.
func TestInterpolatedScalarsTakeTheFieldsType(t *testing.T) {
	t.Parallel()
	env := map[string]string{"N": "7", "R": "true", "PIN": "0123", "J": "0.5"}
	data := []byte(`pipelines:
  - name: p
    sources:
      - name: g
        type: generator
        options:
          count: ${N}
          restart: ${R}
          prefix: ${PIN}
    retry:
      schedule: { kind: linear, step: 1s, retries: "${N}", jitter: "${J}" }
    sinks:
      - { name: s, type: http, options: { url: "http://x/", headers: { X-Pin: "${PIN}" } } }
`)
	cfg, err := config.Load("env.yaml", data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	g := fmtAny(cfg.Pipelines[0].SourceTypes[0].Options())
	if !strings.Contains(g, "Count:7") || !strings.Contains(g, "Restart:true") || !strings.Contains(g, "Prefix:0123") {
		t.Fatalf("generator options %s", g)
	}
	if s := cfg.Pipelines[0].Template.Retry.Schedule; s.Retries != 7 || s.Jitter != 0.5 {
		t.Fatalf("schedule %+v", s)
	}
	if h := fmtAny(cfg.Pipelines[0].SinkTypes[0].Options()); !strings.Contains(h, "X-Pin:0123") {
		t.Fatalf("http options %s", h)
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct{ in, out, err string }{
		{"plain", "plain", ""},
		{"pa$$word", "pa$$word", ""},
		{"${A}", "x", ""},
		{"a-${A}-b", "a-x-b", ""},
		{"${B:-def}", "def", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"$${A}", "${A}", ""},
		{"${B}", "", "environment variable B is not set"},
		{"${A", "", "unterminated"},
		{"${1A}", "", "not an environment variable name"},
	}
	for _, c := range cases {
		got, err := config.Interpolate(c.in, lookup)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.out {
			t.Errorf("%q = %q, %v; want %q", c.in, got, err, c.out)
		}
	}
}

// FuzzInterpolate: never panics, and text without "${" comes back unchanged.
func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{"", "${A}", "$${A}", "${A:-b}", "${", "}${", "a$b", "${A:-${B}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := config.Interpolate(s, func(k string) (string, bool) { return "v", k == "A" })
		if !strings.Contains(s, "${") && (err != nil || out != s) {
			t.Fatalf("%q changed to %q (%v)", s, out, err)
		}
	})
}

// FuzzLoad: arbitrary files never panic the decoder and every error has a position.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	for _, p := range append(files, "../examples/quickstart.yaml") {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := config.Load("f.yaml", data, func(string) (string, bool) { return "v", true })
		if err != nil {
			if _, ok := config.AsErrors(err); !ok {
				t.Fatalf("error without position: %v", err)
			}
		}
	})
}

// TestErrorsNameVariablesNotValues: a secret interpolated into the wrong
// field (a duration, an integer, a name, a type) is reported by its
// variable's name; its value appears in no problem, in any escaping.
func TestErrorsNameVariablesNotValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SECRET": "tok-LEAK-1234", "ODD": `pw<LEAK>&"\x`, "N": "5"}
	data := []byte(`pipelines:
  - name: "${ODD}"
    sources:
      - name: g
        type: generator
        options:
          count: ${SECRET}
          interval: "${SECRET}"
    sinks:
      - { name: s, type: "${SECRET}" }
      - { name: t, type: http, options: { url: "http://x/", timeout: "x${ODD}" } }
`)
	_, err := config.Load("leak.yaml", data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, leak := range []string{"LEAK", `\u003c`} {
		if strings.Contains(msg, leak) {
			t.Errorf("a problem quotes a secret's value (%q):\n%s", leak, msg)
		}
	}
	for _, want := range []string{`"${SECRET}" is not a duration`, "${ODD}"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in:\n%s", want, msg)
		}
	}
}

// TestRetryBlocksDecodeIntoTheGoTypes: a file's retry blocks are
// router.RetryPolicy itself: `in_process` starts from
// middleware.DefaultRetry (the keys left out keep their defaults, an
// explicit 0 is kept), and a preset becomes its schedule.
func TestRetryBlocksDecodeIntoTheGoTypes(t *testing.T) {
	t.Parallel()
	data := []byte(`pipelines:
  - name: p
    sources:
      - name: g
        type: generator
    retry:
      in_process: { max_retries: 0, max_interval: 2s }
    sinks:
      - name: out
        type: log
        retry: { preset: parakey }
`)
	cfg, err := config.Load("p.yaml", data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0].Template
	want := middleware.DefaultRetry()
	want.MaxRetries, want.MaxInterval = 0, 2*time.Second
	if ip := p.Retry.InProcess; ip == nil || ip.MaxRetries != 0 || ip.MaxInterval != want.MaxInterval || ip.InitialInterval != want.InitialInterval || ip.Multiplier != want.Multiplier || ip.Jitter != want.Jitter {
		t.Fatalf("in_process %+v, want %+v", ip, want)
	}
	if r := p.Sinks[0].Retry; r == nil || r.Preset != "" || r.Schedule.Len() != middleware.ParakeySchedule().Len() || r.Schedule.Total() != middleware.ParakeySchedule().Total() {
		t.Fatalf("sink retry %+v", r)
	}
}
