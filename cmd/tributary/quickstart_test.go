package main_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// quickstartSecret differs from the file's default, so the test proves that
// ${TRIBUTARY_RECEIVER_SECRET} reaches the webhook sink's signer.
const quickstartSecret = "whsec_cXVpY2tzdGFydC1lMmUtc2lnbmluZy1rZXktMzItYnl0ZXMh"

// TestQuickstartFileEndToEnd runs the shipped examples/quickstart.yaml, as
// is, against the simulators: events from all three kinds of provider source
// — the ETag event log (etagpoll), the Socket.IO panel (socketio) and two
// batch feeds (batchfeed, OAuth2 + tenant header) — arrive at the receiver
// through the webhook sink, signed (the receiver verifies the Standard
// Webhooks signature and demands the token), each once, each with the W3C
// trace its source started. Restarted, the pipeline re-reads the event log's
// overlap window and dedup drops the repeats: the dedup counter rises and
// still no event reaches the receiver twice. Then `feed discard` empties a
// simulated feed.
func TestQuickstartFileEndToEnd(t *testing.T) {
	t.Parallel()
	// As scripts/quickstart.sh starts it: the receiver checks token and signature.
	simulation := startSimulation(t, pgtest.NewDatabase(t), "300ms")
	env, base, token, sim := simulation.env, simulation.base, simulation.token, simulation.proc
	quickstart := filepath.Join("..", "..", "examples", "quickstart.yaml")
	if r := runCLI(t, env, "validate", "-c", quickstart); r.code != 0 {
		t.Fatalf("validate: %+v", r)
	}
	metrics1 := freeAddr(t)
	run := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics1)

	// bySource checks every delivery so far — accepted (right token), signed
	// (valid signature), traced, never an event id twice — and counts them
	// per source.
	typeOf := map[string]string{"eventlog": "etagpoll", "panel": "socketio", "journey": "batchfeed", "screening": "batchfeed"}
	bySource := func() map[string]int {
		n := map[string]int{}
		seen := map[string]bool{}
		for _, r := range getReceivedQuickstart(t, base) {
			if r.EventID == forgedID && r.Status == 401 {
				continue // postUnsigned's
			}
			if r.Status != 200 || r.Signature != "valid" || r.Duplicate || seen[r.EventID] || r.EventID == "" ||
				!traceparent.MatchString(r.Traceparent) {
				t.Fatalf("receiver got %+v (seen before: %v)", r, seen[r.EventID])
			}
			if _, ok := typeOf[r.Source]; !ok {
				t.Fatalf("delivery from unexpected source %q: %+v", r.Source, r)
			}
			seen[r.EventID] = true
			n[r.Source]++
		}
		return n
	}
	waitFor(t, 60*time.Second, "events from the event log, the socket and both feeds", func() bool {
		n := bySource()
		// 12 + 3 notifications wait on the feeds at start.
		return n["eventlog"] >= 3 && n["panel"] >= 3 && n["journey"] >= 12 && n["screening"] >= 3
	})
	// The signature and token checks are real: the receiver refused nothing so far,
	// and a request without them is refused.
	if code := postUnsigned(t, base+"/webhook"); code != 401 {
		t.Fatalf("unsigned request without token: %d, want 401", code)
	}
	run.stop(t)
	if strings.Contains(run.stderr.String(), token) || strings.Contains(run.stderr.String(), quickstartSecret) {
		t.Fatalf("a secret reached the logs:\n%s", tail(run.stderr.String(), 2000))
	}

	before := bySource()
	metrics2 := freeAddr(t)
	run2 := start(t, env, "run", "-c", quickstart, "--metrics-addr", metrics2)
	waitFor(t, 60*time.Second, "re-read event-log events to be deduplicated", func() bool {
		return metric(t, metrics2, "tributary_events_deduped_total") > 0
	})
	waitFor(t, 60*time.Second, "new events from every source type after the restart", func() bool {
		n := bySource()
		return n["eventlog"] > before["eventlog"] && n["panel"] > before["panel"] &&
			n["journey"]+n["screening"] > before["journey"]+before["screening"]
	})
	run2.stop(t)
	bySource() // still signed, and still no event id twice
	if strings.Contains(sim.stdout.String(), "DUPLICATE") {
		t.Fatalf("the receiver printed a duplicate:\n%s", tail(sim.stdout.String(), 2000))
	}

	r := runCLI(t, env, "feed", "discard", "-c", quickstart, "--pipeline", "doors", "--source", "journey", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "discarded the pending events of doors/journey") {
		t.Fatalf("feed discard: %+v", r)
	}
	if !strings.Contains(sim.stderr.String()+r.stderr, "discardAll done") {
		t.Fatalf("no discardAll in the logs:\n%s", tail(r.stderr, 2000))
	}
}

// TestQuickstartScript runs scripts/quickstart.sh (`task run`) with each of
// its databases in turn and sees deliveries from the event log (whose first
// events need a poll or two), the socket panel and a batch feed printed:
//   - DATABASE_URL;
//   - a PostgreSQL answering on the local port (QUICKSTART_PG_PORT, 5432 by
//     default), in a database of the quickstart's own;
//   - a throwaway cluster, run as root from a copy of the checkout in a
//     `mktemp -d` folder, which the postgres user cannot enter; this run is
//     ended as a user ends it, with Ctrl-C (SIGINT to its process group),
//     and must exit 0 and stop its cluster.
//
// The cases run one after the other: each script picks the first free ports
// from the same defaults.
func TestQuickstartScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart script")
	}
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("DATABASE_URL", func(t *testing.T) {
		out := runQuickstart(t, repo, "DATABASE_URL="+pgtest.NewDatabase(t), "QUICKSTART_SECONDS=10")
		checkQuickstartOutput(t, out, "using DATABASE_URL")
	})

	t.Run("local server", func(t *testing.T) {
		pgtest.RequireOwnServer(t) // it creates a database of its own there
		u, err := url.Parse(pgtest.AdminURL())
		if err != nil {
			t.Fatal(err)
		}
		db := quickstartDatabase(t, repo)
		dropDatabase(t, db)
		t.Cleanup(func() { dropDatabase(t, db) })
		out := runQuickstart(t, repo, "DATABASE_URL=", "QUICKSTART_PG_PORT="+u.Port(), "QUICKSTART_SECONDS=10")
		checkQuickstartOutput(t, out, "using the PostgreSQL on 127.0.0.1:"+u.Port()+" (database "+db+", this checkout's own)",
			"database     "+db+" on 127.0.0.1:"+u.Port(), "topics       PostgreSQL")
	})

	t.Run("two checkouts side by side", func(t *testing.T) { quickstartSideBySide(t, repo) })

	t.Run("throwaway cluster as root, Ctrl-C", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("the case of a root user in a folder the postgres user cannot enter")
		}
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
			if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
				t.Fatal("no /usr/lib/postgresql/*/bin/initdb: apt-get install -y postgresql")
			}
			t.Skip("no PostgreSQL binaries for a throwaway cluster")
		}
		// os.MkdirTemp makes the folder mode 700, as `mktemp -d` does.
		clone, err := os.MkdirTemp("", "quickstart-clone-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(clone) })
		copyCheckout(t, repo, clone)
		// The script's fallback place for the cluster, /var/tmp, made private to this test.
		scratch, err := os.MkdirTemp("/var/tmp", "quickstart-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(scratch) })
		if err := os.Chmod(scratch, 0o755); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "./scripts/quickstart.sh")
		cmd.Dir = clone
		cmd.Env = append(os.Environ(), "DATABASE_URL=", "QUICKSTART_SECONDS=",
			"QUICKSTART_PG_PORT="+closedPort(t), "TRIBUTARY_PG_SCRATCH="+scratch)
		// Its own process group, as a shell gives a foreground job: Ctrl-C reaches all of it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(4 * time.Minute)
		for !hasAll(out.String(), "source=eventlog", "source=journey", "source=panel") {
			select {
			case err := <-done:
				t.Fatalf("quickstart.sh ended before deliveries arrived: %v\n%s", err, out.String())
			case <-deadline:
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("no deliveries from every source within 4 minutes:\n%s", out.String())
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("quickstart.sh after Ctrl-C: %v, want exit 0\n%s", err, out.String())
			}
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("quickstart.sh did not end within a minute of Ctrl-C:\n%s", out.String())
		}
		checkQuickstartOutput(t, out.String(), "starting a throwaway PostgreSQL cluster",
			"data in "+scratch+"/", "stopping the throwaway PostgreSQL cluster")
		if strings.Contains(out.String(), "Permission denied") {
			t.Fatalf("quickstart output has \"Permission denied\":\n%s", out.String())
		}
		pids, _ := filepath.Glob(filepath.Join(scratch, "*", "quickstart-pg", "postmaster.pid"))
		if len(pids) != 0 {
			t.Fatalf("the throwaway cluster still runs after Ctrl-C: %v", pids)
		}
	})
}

// runQuickstart runs scripts/quickstart.sh in dir with env added and returns
// its output; it must exit 0.
func runQuickstart(t *testing.T, dir string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./scripts/quickstart.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	return string(out)
}

// checkQuickstartOutput checks that the receiver printed signed deliveries
// from the event log, the socket panel and a batch feed, and each of want.
func checkQuickstartOutput(t *testing.T, out string, want ...string) {
	t.Helper()
	want = append(want, "applying migrations", "console      http://127.0.0.1:", "receiver #1 ", "source=eventlog", "source=panel",
		"source=journey", "signature=valid")
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("quickstart output lacks %q:\n%s", w, out)
		}
	}
	for _, bad := range []string{"signature=invalid", "signature=unsigned", " 401 ", "DUPLICATE"} {
		if strings.Contains(out, bad) {
			t.Fatalf("quickstart output has %q:\n%s", bad, out)
		}
	}
}

func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// closedPort is a loopback port nothing listens on (just closed).
func closedPort(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// copyCheckout copies what building and running the quickstart needs:
// the checkout without .git, node_modules, .data and bin.
func copyCheckout(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		switch d.Name() {
		case ".git", "node_modules", ".data", "bin":
			if d.IsDir() && rel != "." {
				return filepath.SkipDir
			}
		}
		target := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil // sockets, links: nothing the build needs
	})
	if err != nil {
		t.Fatalf("copy the checkout: %v", err)
	}
}

// receivedQuickstart is a receiver record with what the quickstart test checks.
type receivedQuickstart struct {
	EventID     string `json:"event_id"`
	Source      string `json:"source"`
	Traceparent string `json:"traceparent"`
	Signature   string `json:"signature"`
	Duplicate   bool   `json:"duplicate"`
	Status      int    `json:"status"`
}

func getReceivedQuickstart(t *testing.T, base string) []receivedQuickstart {
	t.Helper()
	resp, err := http.Get(base + "/webhook/received")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []receivedQuickstart
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// simulation is `tributary simulate` on a free port, its receiver checking
// token and signature, over a migrated database, with the environment the
// test pipeline files read (quickstart.yaml, restart.yaml, multi.yaml).
type simulation struct {
	env   []string
	base  string // the simulator's URL
	token string // the receiver's
	proc  *started
}

// startSimulation migrates dbURL's database and starts the simulator,
// offering an event every interval; extraEnv joins the environment.
func startSimulation(t *testing.T, dbURL, interval string, extraEnv ...string) simulation {
	t.Helper()
	simAddr := freeAddr(t)
	s := simulation{base: "http://" + simAddr, token: "receiver-" + t.Name()}
	s.env = append([]string{
		"DATABASE_URL=" + dbURL,
		"TRIBUTARY_SIMULATOR_URL=" + s.base,
		"TRIBUTARY_RECEIVER_URL=" + s.base + "/webhook",
		"TRIBUTARY_RECEIVER_SECRET=" + quickstartSecret,
		"RECEIVER_TOKEN=" + s.token,
	}, extraEnv...)
	migrate(t, s.env)
	s.proc = start(t, s.env, "simulate", "--addr", simAddr, "--interval", interval,
		"--receiver-secret", quickstartSecret, "--receiver-token", s.token)
	waitFor(t, 20*time.Second, "the simulator", func() bool { return strings.Contains(s.proc.stdout.String(), "simulators on") })
	return s
}

// awaitReceived waits up to 90 s until the receiver has every event of want
// (event id → where it came from), or fails naming the missing ones, with
// logs().
func awaitReceived(t *testing.T, base string, want map[string]string, logs func() string) {
	t.Helper()
	var missing []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := map[string]bool{}
		for _, r := range getReceivedQuickstart(t, base) {
			got[r.EventID] = true
		}
		missing = missing[:0]
		for id, from := range want {
			if !got[id] {
				missing = append(missing, from+":"+id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Fatalf("%d of %d offered events never reached the receiver: %v\n%s", len(missing), len(want), missing, logs())
		}
	}
}

// forgedID is the event id of postUnsigned's request.
const forgedID = "forged-event"

// postUnsigned posts an event without token or signature (the receiver
// records it with status 401).
func postUnsigned(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"id":"`+forgedID+`"}`))
	req.Header.Set("webhook-id", forgedID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// quickstartDatabase is the database scripts/quickstart.sh creates for the
// checkout in dir on a local server: named after the checkout's real path.
func quickstartDatabase(t *testing.T, dir string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(real))
	return "tributary_quickstart_" + hex.EncodeToString(sum[:])[:10]
}

// dropDatabase drops a database of the tests' own server.
func dropDatabase(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
}

// quickstartSideBySide runs the quickstart from two copies of the checkout
// on one machine at once, both on the local server and with their topics on
// JetStream, as two users would: each gets a database and a NATS server of
// its own, says which in its banner, and neither joins the other's pipeline
// (each database knows one instance, each receiver gets events from every
// source). Before, both used the database tributary_quickstart and the
// machine's NATS, and the second became an instance of the first.
func quickstartSideBySide(t *testing.T, repo string) {
	pgtest.RequireOwnServer(t)
	if _, err := exec.LookPath("nats-server"); err != nil {
		if _, err := os.Stat("/usr/sbin/nats-server"); err != nil {
			if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
				t.Fatal("no nats-server: apt-get install -y nats-server")
			}
			t.Skip("no nats-server for the quickstart's JetStream topics")
		}
	}
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	var clones [2]string
	for i := range clones {
		clones[i] = t.TempDir()
		copyCheckout(t, repo, clones[i])
		db := quickstartDatabase(t, clones[i])
		dropDatabase(t, db)
		t.Cleanup(func() { dropDatabase(t, db) })
	}
	if quickstartDatabase(t, clones[0]) == quickstartDatabase(t, clones[1]) {
		t.Fatal("two checkouts got one database name")
	}
	// Both run until the test ends them with Ctrl-C, as a user would: under
	// load the second may take long to build and start.
	env := []string{"DATABASE_URL=", "NATS_URL=", "TRIBUTARY_BACKEND=jetstream", "QUICKSTART_PG_PORT=" + u.Port(), "QUICKSTART_SECONDS="}
	var outs [2]lockedBuffer
	var cmds [2]*exec.Cmd
	done := make(chan error, 2)
	for i, dir := range clones {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, "./scripts/quickstart.sh")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		go func() { done <- cmd.Wait() }()
		// The second starts once the first runs: the scripts pick the first
		// free ports, and two probing at the same moment could pick one twice.
		if i == 0 {
			waitFor(t, 3*time.Minute, "the first quickstart's banner", func() bool {
				return strings.Contains(outs[0].String(), "Deliveries appear below")
			})
		}
	}
	// While both run, each database knows one instance: its own quickstart's.
	waitFor(t, 4*time.Minute, "deliveries from every source in both quickstarts", func() bool {
		for i := range outs {
			if !hasAll(outs[i].String(), "receiver #1 ", "source=eventlog", "source=journey", "source=panel") {
				return false
			}
		}
		return true
	})
	for _, dir := range clones {
		db := quickstartDatabase(t, dir)
		dbURL := *u
		dbURL.Path = "/" + db
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := pgx.Connect(ctx, dbURL.String())
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var instances int
		err = c.QueryRow(ctx, "SELECT count(*) FROM tributary_instances").Scan(&instances)
		c.Close(ctx)
		cancel()
		if err != nil || instances != 1 {
			t.Errorf("database %s knows %d instances (%v), want only its own quickstart's", db, instances, err)
		}
	}
	for _, cmd := range cmds {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	for range clones {
		if err := <-done; err != nil {
			t.Fatalf("quickstart.sh: %v\nfirst:\n%s\nsecond:\n%s", err, outs[0].String(), outs[1].String())
		}
	}
	var natsURLs [2]string
	for i, dir := range clones {
		out := outs[i].String()
		db := quickstartDatabase(t, dir)
		checkQuickstartOutput(t, out, "database     "+db+" on 127.0.0.1:"+u.Port()+" (this checkout's own)",
			"(this checkout's own server)")
		m := regexp.MustCompile(`topics       NATS JetStream at (nats://\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the banner does not say which NATS:\n%s", out)
		}
		natsURLs[i] = m[1]
	}
	if natsURLs[0] == natsURLs[1] {
		t.Errorf("both quickstarts used NATS at %s", natsURLs[0])
	}
}
