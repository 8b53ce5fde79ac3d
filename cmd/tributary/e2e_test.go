package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// traceparent is the W3C trace context the generator starts and the http sink forwards.
var traceparent = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/tributary once per test run.
func binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tributary-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tributary")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t testing.TB, env []string, args ...string) result {
	t.Helper()
	bin := binary(t) // built once, perhaps now: not within the command's minute
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// started is a background process of the binary, stopped with SIGTERM at cleanup.
// migrate applies the migrations with the binary, as an operator would.
func migrate(t testing.TB, env []string) {
	t.Helper()
	if r := runCLI(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
}

type started struct {
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t testing.TB, env []string, args ...string) *started {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	s := &started{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGTERM and expects a clean exit (code 0) within 40 s.
func (s *started) stop(t testing.TB) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("%s exited with %v\nstderr:\n%s", s.cmd.Args[1], err, tail(s.stderr.String(), 2000))
		}
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("%s did not stop on SIGINT", s.cmd.Args[1])
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a free loopback address for the binary to listen on. It
// lies below the kernel's ephemeral range: a port from the range (what
// listening on :0 gives) may be taken by any process's outgoing connection
// between this check and the binary's own listen, and the binary then failed
// with "address already in use" (1 in 20 rolling-restart runs for a
// restarted webhookin, once in a full suite run for --metrics-addr).
func freeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := 20000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var from, to int
		if _, err := fmt.Sscan(string(b), &from, &to); err == nil && from > 2048 {
			lo, hi = from/2, from-1
		}
	}
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port in %d-%d", lo, hi)
	return ""
}

type received struct {
	EventID     string `json:"event_id"`
	Traceparent string `json:"traceparent"`
	Source      string `json:"source"`
	Duplicate   bool   `json:"duplicate"`
	Status      int    `json:"status"`
}

func getReceived(t *testing.T, base string) []received {
	t.Helper()
	resp, err := http.Get(base + "/webhook/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []received
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

func metric(t *testing.T, addr, name string) float64 {
	lines := scrape(addr)
	if lines == nil {
		return -1
	}
	var sum float64
	for _, line := range lines {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			sum += v
		}
	}
	return sum
}

// scrape reads addr's /metrics, one line each; nil when it does not answer.
func scrape(addr string) []string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// TestBinaryRunsPipelineFileEndToEnd: migrate, simulate, run a pipeline file
// against real PostgreSQL and see every event arrive once at the receiver;
// then restart the pipeline and see the re-read events deduplicated.
func TestBinaryRunsPipelineFileEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "RECEIVER_TOKEN=e2e-token"}
	if r := runCLI(t, env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "00001_core.sql") {
		t.Fatalf("migrate: %+v", r)
	}
	simAddr := freeAddr(t)
	sim := start(t, env, "simulate", "--addr", simAddr, "--interval", "50ms")
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(sim.stdout.String(), "simulators on") })
	base := "http://" + simAddr

	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	const n = 12
	yaml := fmt.Sprintf(`pipelines:
  - name: doors
    sources:
      - name: gen
        type: generator
        options: { count: %d, interval: 20ms, prefix: e2e }
    retry:
      schedule: { kind: list, delays: [100ms, 200ms] }
    sinks:
      - name: receiver
        type: http
        options:
          url: %s/webhook
          headers: { Authorization: "Bearer ${RECEIVER_TOKEN}" }
          allow_private_networks: true
`, n, base)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, env, "validate", "-c", file); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	metrics1 := freeAddr(t)
	run := start(t, env, "run", "-c", file, "--metrics-addr", metrics1)
	waitFor(t, 60*time.Second, "every event at the receiver", func() bool { return len(getReceived(t, base)) >= n })
	got := getReceived(t, base)
	ids := map[string]bool{}
	for _, r := range got {
		if r.Status != 200 || r.Duplicate || r.Source != "gen" || !traceparent.MatchString(r.Traceparent) {
			t.Fatalf("receiver got %+v", r)
		}
		ids[r.EventID] = true
	}
	if len(ids) != n || !ids["e2e-000001"] || !ids[fmt.Sprintf("e2e-%06d", n)] {
		t.Fatalf("received ids %v, want e2e-000001..%06d", ids, n)
	}
	waitFor(t, 20*time.Second, "/readyz", func() bool {
		resp, err := http.Get("http://" + metrics1 + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	// The counter moves just after the receiver answers: wait for it.
	waitFor(t, 20*time.Second, "the delivered counter to reach n", func() bool {
		return metric(t, metrics1, "tributary_events_delivered_total") == n
	})
	run.stop(t)
	if !strings.Contains(run.stderr.String(), `"level":"INFO"`) || !strings.Contains(run.stderr.String(), `"msg":"Stopped"`) {
		t.Fatalf("expected JSON logs ending in Stopped, got:\n%s", tail(run.stderr.String(), 1500))
	}

	// The generator checkpointed its last acked event.
	var last int
	pool := pgtest.PoolFor(t, dbURL)
	if err := pool.QueryRow(context.Background(), `SELECT value::int FROM tributary_checkpoints WHERE source = 'generator:doors/gen'`).Scan(&last); err != nil || last != n {
		t.Fatalf("generator checkpoint %d (%v), want %d", last, err, n)
	}

	// Restart from scratch: the generator re-reads the same ids; dedup drops all of them.
	again := filepath.Join(dir, "again.yaml")
	if err := os.WriteFile(again, []byte(strings.Replace(yaml, "prefix: e2e", "prefix: e2e, restart: true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	metrics2 := freeAddr(t)
	run2 := start(t, env, "run", "-c", again, "--metrics-addr", metrics2)
	waitFor(t, 60*time.Second, "the re-read events to be deduplicated", func() bool {
		return metric(t, metrics2, "tributary_events_deduped_total") == n
	})
	run2.stop(t)
	if got := getReceived(t, base); len(got) != n {
		t.Fatalf("receiver got %d deliveries after the restart, want still %d", len(got), n)
	}

	// The delivery log has one delivered attempt per event.
	r := runCLI(t, env, "--json", "deliveries", "list", "--pipeline", "doors", "--outcome", "success", "--limit", "100")
	var attempts []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &attempts) != nil || len(attempts) != n {
		t.Fatalf("deliveries list: %d attempts, %+v", len(attempts), r)
	}
	if r := runCLI(t, env, "deliveries", "list", "--sink", "receiver"); r.code != 0 || !strings.Contains(r.stdout, "OUTCOME") || !strings.Contains(r.stdout, "e2e-000001") {
		t.Fatalf("deliveries table: %+v", r)
	}
}

// TestBinaryPoisonCommands: a receiver that refuses (wrong token) poisons
// every event at once; the poison commands list, show, replay and purge
// them, and deliveries list shows the refused attempts, on both backends
// (on JetStream, replay goes through the file's backend: -c FILE).
func TestBinaryPoisonCommands(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres", "jetstream"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			binaryPoisonCommands(t, backend)
		})
	}
}

func binaryPoisonCommands(t *testing.T, backend string) {
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL}
	migrate(t, env)
	simAddr := freeAddr(t)
	start(t, env, "simulate", "--addr", simAddr, "--receiver-token", "right")
	file := filepath.Join(t.TempDir(), "p.yaml")
	var backendKey, natsURL string
	replay := []string{"poison", "replay"}
	if backend == "jetstream" {
		natsURL = natstest.Start(t).URL
		backendKey = fmt.Sprintf("backend: { type: jetstream, url: %q }\n", natsURL)
		replay = append(replay, "-c", file)
	}
	yaml := backendKey + fmt.Sprintf(`pipelines:
  - name: refused
    sources: [{ name: gen, type: generator, options: { count: 3, interval: 10ms, prefix: bad } }]
    sinks:
      - name: hook
        type: http
        options: { url: "http://%s/webhook", headers: { Authorization: Bearer wrong }, allow_private_networks: true }
`, simAddr)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := start(t, env, "run", "-c", file, "--metrics-addr", "")
	type rec struct {
		ID       int64  `json:"id"`
		EventID  string `json:"event_id"`
		Sink     string `json:"sink"`
		Attempts int    `json:"attempts"`
	}
	var recs []rec
	waitFor(t, 60*time.Second, "three poisoned messages", func() bool {
		r := runCLI(t, env, "--json", "poison", "list", "--pipeline", "refused")
		recs = nil
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &recs) == nil && len(recs) == 3
	})
	run.stop(t)
	if recs[0].EventID != "bad-000001" || recs[0].Sink != "hook" || recs[0].Attempts != 1 {
		t.Fatalf("poison record %+v", recs[0])
	}
	if r := runCLI(t, env, "poison", "list"); r.code != 0 || !strings.Contains(r.stdout, "receiver answered 401") {
		t.Fatalf("poison list table: %+v", r)
	}
	id := fmt.Sprint(recs[0].ID)
	if r := runCLI(t, env, "poison", "show", id); r.code != 0 || !strings.Contains(r.stdout, "bad-000001") || !strings.Contains(r.stdout, "Payload") {
		t.Fatalf("poison show: %+v", r)
	}
	if r := runCLI(t, env, "deliveries", "list", "--sink", "hook"); r.code != 0 || !strings.Contains(r.stdout, "bad-000001") {
		t.Fatalf("deliveries list: %+v", r)
	}
	if r := runCLI(t, env, append(replay, id)...); r.code != 0 || !strings.Contains(r.stdout, "replayed 1") {
		t.Fatalf("poison replay: %+v", r)
	}
	if r := runCLI(t, env, append(replay, id)...); r.code != 5 {
		t.Fatalf("replaying a replayed record: exit %d, want 5 (%+v)", r.code, r)
	}
	if r := runCLI(t, env, "poison", "purge"); r.code != 2 {
		t.Fatalf("purge without --yes: exit %d, want 2", r.code)
	}
	if r := runCLI(t, env, "--json", "poison", "purge", "--yes", "--pipeline", "refused"); r.code != 0 || !strings.Contains(r.stdout, `"purged": 2`) {
		t.Fatalf("purge: %+v", r)
	}
	// The replayed message is in the sink's retry queue: not lost.
	var queued int64
	var err error
	if backend == "jetstream" {
		queued, err = retryStreamDepth(natsURL, "refused", "hook")
	} else {
		err = pgtest.PoolFor(t, dbURL).QueryRow(context.Background(),
			`SELECT count(*) FROM tributary_queue WHERE topic = 'tributary.refused.retry.hook'`).Scan(&queued)
	}
	if err != nil || queued != 1 {
		t.Fatalf("retry queue holds %d (%v), want the replayed message", queued, err)
	}
}

// retryStreamDepth is how many messages wait for sink on pipeline's
// JetStream retry stream.
func retryStreamDepth(natsURL, pipeline, sink string) (int64, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	return jstopic.Depth(context.Background(), js, router.RetryTopic(pipeline, sink), sink)
}

// TestBinaryExitCodes pins the documented exit codes.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	good := filepath.Join("..", "..", "examples", "quickstart.yaml")
	broken := filepath.Join("..", "..", "config", "testdata", "broken", "bad_names.yaml")
	noDB := []string{"DATABASE_URL="}
	withDB := []string{"DATABASE_URL=" + dbURL}
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		output string
	}{
		{"version", noDB, []string{"version"}, 0, "tributary "},
		{"validate ok", noDB, []string{"validate", "-c", good}, 0, "ok (1 pipeline: "},
		{"validate missing file", noDB, []string{"validate", "-c", "no-such-file.yaml"}, 5, "no-such-file.yaml: no such file"},
		{"validate broken", noDB, []string{"validate", "-c", broken}, 3, "bad_names.yaml:5:11: pipelines[0].name"},
		{"validate broken etagpoll", noDB, []string{"validate", "-c", filepath.Join("..", "..", "config", "testdata", "broken", "etagpoll_options.yaml")}, 3,
			`etagpoll_options.yaml:15:21: pipelines[0].sources[0].options.base_url: "api.example.com": want an absolute http:// or https:// URL`},
		{"validate broken batchfeed", noDB, []string{"validate", "-c", filepath.Join("..", "..", "config", "testdata", "broken", "batchfeed_options.yaml")}, 3,
			`batchfeed_options.yaml:16:20: pipelines[0].sources[0].options.feed_id: "Journey": feed ids are case-sensitive, did you mean "journey"?`},
		{"validate reports every problem", noDB, []string{"validate", "-c", filepath.Join("..", "..", "config", "testdata", "broken", "many_problems.yaml")}, 3,
			`many_problems.yaml:30:17: pipelines[1].sinks[2].options.path: environment variable TRIBUTARY_TEST_UNSET_PATH is not set`},
		{"feed discard unsupported", withDB, []string{"feed", "discard", "-c", good, "--pipeline", "doors", "--source", "eventlog", "--yes"}, 7, "cannot discard"},
		{"unknown flag", noDB, []string{"poison", "list", "--nope"}, 2, "unknown flag"},
		{"unknown command", noDB, []string{"frobnicate"}, 2, "unknown command"},
		{"no database", noDB, []string{"poison", "list"}, 4, "DATABASE_URL"},
		{"database down", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/none?connect_timeout=2"}, []string{"migrate"}, 4, "unreachable"},
		{"not migrated", withDB, []string{"deliveries", "list"}, 4, "tributary migrate"},
		{"not found", withDB, []string{"poison", "show", "99"}, 4, ""}, // not migrated yet: database error first
		{"webhook test unsupported", noDB, []string{"webhook", "test", "-c", filepath.Join("..", "..", "examples", "socketio.yaml"), "--pipeline", "panel", "--sink", "receiver"}, 7, "has no test"},
		{"webhook test no such sink", noDB, []string{"webhook", "test", "-c", good, "--pipeline", "doors", "--sink", "nope"}, 5, "nope"},
		{"feed discard needs --yes", noDB, []string{"feed", "discard", "-c", good, "--pipeline", "doors", "--source", "journey"}, 2, "--yes"},
		{"admin off loopback needs token", noDB, []string{"run", "-c", good, "--admin", "0.0.0.0:0"}, 2, "admin-token"},
	}
	for _, c := range cases {
		r := runCLI(t, c.env, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.output) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", c.name, r.code, c.code, c.output, r.stdout, r.stderr)
		}
	}
	migrate(t, withDB)
	if r := runCLI(t, withDB, "poison", "show", "99"); r.code != 5 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("poison show 99: %+v, want exit 5", r)
	}
	if r := runCLI(t, withDB, "--json", "validate", "-c", broken); r.code != 3 || !strings.Contains(r.stdout, `"line": 5`) {
		t.Fatalf("validate --json: %+v", r)
	}
}
