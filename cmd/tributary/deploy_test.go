package main_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// The deployment artefacts (Containerfile, deploy/) each have a check here,
// against the binary they deploy.

// repoRoot is the checkout, two folders up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireTool returns the path of a tool a check needs; without it the test
// skips, or fails under TRIBUTARY_REQUIRE_PEERS=1 (CI, which installs it).
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs " + name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TRIBUTARY_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s is not installed (%s); TRIBUTARY_REQUIRE_PEERS=1 needs it", name, install)
		}
		t.Skipf("%s is not installed (%s)", name, install)
	}
	return p
}

// runTool runs a command with a deadline and returns its combined output.
func runTool(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestContainerImage builds the image from Containerfile (scripts/image.sh,
// in an image store of the test's own), exports the filesystem of a container
// made from it, and runs the binary from that tree: `version` and `validate`
// on the examples the image ships. The tree must hold nothing but the binary,
// the CA bundle, the user entries and the examples: no shell. These machines
// can build images but not run containers, so the binary runs on the host.
func TestContainerImage(t *testing.T) {
	podman := requireTool(t, "podman", "apt-get install -y podman")
	t.Parallel()
	root := repoRoot(t)
	store := t.TempDir()
	flags := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
	out, err := runTool(t, 10*time.Minute, root, []string{"CONTAINER_STORAGE=" + store, "CONTAINER_BUILDER=" + podman, "VERSION=v0.0.0-test"},
		"./scripts/image.sh", "tributary:test")
	if err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, tail(out, 4000))
	}
	t.Cleanup(func() {
		_, _ = runTool(t, time.Minute, root, nil, podman, append(flags, "rmi", "-f", "tributary:test")...)
	})

	out, err = runTool(t, time.Minute, root, nil, podman, append(flags, "image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Entrypoint}}", "tributary:test")...)
	if err != nil || strings.TrimSpace(out) != `65532:65532|["/usr/local/bin/tributary"]` {
		t.Fatalf("image user and entrypoint: %q, %v", out, err)
	}
	out, err = runTool(t, time.Minute, root, nil, podman, append(flags, "create", "tributary:test", "version")...)
	if err != nil {
		t.Fatalf("podman create: %v\n%s", err, out)
	}
	id := strings.TrimSpace(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:])
	t.Cleanup(func() { _, _ = runTool(t, time.Minute, root, nil, podman, append(flags, "rm", "-f", id)...) })
	archive := filepath.Join(t.TempDir(), "fs.tar")
	if out, err := runTool(t, 5*time.Minute, root, nil, podman, append(flags, "export", "-o", archive, id)...); err != nil {
		t.Fatalf("podman export: %v\n%s", err, out)
	}
	tree := t.TempDir()
	files := untar(t, archive, tree)
	for _, want := range []string{"usr/local/bin/tributary", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "usr/share/tributary/examples/quickstart.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("the image has no %s (it has %v)", want, files)
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "bin/") || strings.HasPrefix(f, "usr/bin/") || strings.HasPrefix(f, "lib") {
			t.Errorf("the image holds %s: only the binary, certificates, users and examples belong in it", f)
		}
	}
	if passwd, _ := os.ReadFile(filepath.Join(tree, "etc/passwd")); !strings.Contains(string(passwd), ":65532:65532:") {
		t.Errorf("no user 65532 in the image's /etc/passwd:\n%s", passwd)
	}

	bin := filepath.Join(tree, "usr/local/bin/tributary")
	out, err = runTool(t, time.Minute, tree, nil, bin, "version")
	if err != nil || !strings.HasPrefix(out, "tributary v0.0.0-test (commit ") {
		t.Fatalf("version from the image: %q, %v", out, err)
	}
	examples, _ := filepath.Glob(filepath.Join(tree, "usr/share/tributary/examples/*.yaml"))
	if len(examples) < 3 {
		t.Fatalf("examples in the image: %v", examples)
	}
	for _, f := range examples {
		out, err := runTool(t, time.Minute, tree, []string{"DATABASE_URL="}, bin, "validate", "-c", f)
		if err != nil || !strings.Contains(out, ": ok (") {
			t.Errorf("validate %s from the image: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// untar unpacks a filesystem export into dir and lists its regular files.
func untar(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || strings.HasPrefix(name, "..") {
			continue
		}
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			files = append(files, name)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			w, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			files = append(files, name) // a link or device would show as an unexpected file
		}
	}
}

// TestSystemdUnit: deploy/systemd/tributary.service passes `systemd-analyze
// verify` without a warning (an unknown or misspelt option is only a warning
// there), with its binary path pointed at the built binary, and its sandboxing
// rates an exposure of at most 2.0 in `systemd-analyze security`.
func TestSystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "apt-get install -y systemd")
	t.Parallel()
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "systemd", "tributary.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "/usr/local/bin/tributary run -c ") {
		t.Fatalf("the unit does not run /usr/local/bin/tributary run -c …")
	}
	file := filepath.Join(t.TempDir(), "tributary.service")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/tributary", binary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, time.Minute, "", nil, analyze, "verify", file)
	if err != nil || strings.Contains(out, "tributary.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = runTool(t, time.Minute, "", nil, analyze, "security", "--offline=true", "--threshold=20", file)
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v)\n%s", err, tail(out, 3000))
	}
}

// TestAlertRules: promtool accepts deploy/prometheus/alerts.yaml and its unit
// tests (alerts_test.yaml: each alert fires on the series meant to fire it).
func TestAlertRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install -y prometheus")
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	if out, err := runTool(t, time.Minute, dir, nil, promtool, "check", "rules", "alerts.yaml"); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := runTool(t, time.Minute, dir, nil, promtool, "test", "rules", "alerts_test.yaml"); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

var (
	metricName = regexp.MustCompile(`\btributary_[a-z0-9_]+`)
	// byLabels are the labels of by (…), on (…) and {label=…} in an expression.
	byClause    = regexp.MustCompile(`\b(?:by|on)\s*\(([^)]*)\)`)
	matchLabels = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!=|!~|=)\s*"`)
	seriesLine  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? `)
	labelName   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// TestDashboardAndAlertMetricsExist runs the quickstart pipeline against the
// simulators and reads the binary's /metrics: every tributary_* metric that a
// panel of deploy/grafana/tributary.json or a rule of
// deploy/prometheus/alerts.yaml uses must be there, with every label the
// expression groups, joins or matches by.
func TestDashboardAndAlertMetricsExist(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	exprs := usedExprs(t, filepath.Join(root, "deploy", "grafana", "tributary.json"), filepath.Join(root, "deploy", "prometheus", "alerts.yaml"))
	if len(exprs) < 10 {
		t.Fatalf("found only %d expressions", len(exprs))
	}
	// metric → labels each expression needs it to have.
	need := map[string]map[string]bool{}
	for _, e := range exprs {
		var labels []string
		for _, m := range byClause.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(m[1], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
		}
		for _, m := range matchLabels.FindAllStringSubmatch(e, -1) {
			labels = append(labels, m[1])
		}
		for _, name := range metricName.FindAllString(e, -1) {
			if need[name] == nil {
				need[name] = map[string]bool{}
			}
			for _, l := range labels {
				if l == "le" && !strings.HasSuffix(name, "_bucket") || l == "job" || l == "" {
					continue // le belongs to the histogram's buckets; job to Prometheus
				}
				need[name][l] = true
			}
		}
	}

	sim := startSimulation(t, pgtest.NewDatabase(t), "300ms")
	addr := freeAddr(t)
	run := start(t, sim.env, "run", "-c", filepath.Join(root, "examples", "quickstart.yaml"), "--metrics-addr", addr)
	var missing []string
	have := map[string]map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		have = map[string]map[string]bool{}
		for _, line := range scrape(addr) {
			m := seriesLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if have[m[1]] == nil {
				have[m[1]] = map[string]bool{}
			}
			for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
				have[m[1]][l[1]] = true
			}
		}
		missing = missing[:0]
		for name, labels := range need {
			if have[name] == nil {
				missing = append(missing, name)
				continue
			}
			for l := range labels {
				if !have[name][l] {
					missing = append(missing, name+"{"+l+"}")
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Fatalf("used by the dashboard or the alerts, not in /metrics: %v\n%s", missing, tail(run.stderr.String(), 2000))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// usedExprs are the PromQL expressions of the dashboard's panels and
// variables and of the alert rules.
func usedExprs(t *testing.T, dashboard, alerts string) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	for file, decode := range map[string]func([]byte) error{
		dashboard: func(b []byte) error { return json.Unmarshal(b, &d) },
		alerts:    func(b []byte) error { return yaml.Unmarshal(b, &rules) },
	} {
		data, err := os.ReadFile(file)
		if err == nil {
			err = decode(data)
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	var exprs []string
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// k8sContainer is what the test reads of a container in the manifest.
type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas       int `yaml:"replicas"`
		MaxUnavailable any `yaml:"maxUnavailable"`
		Template       struct {
			Spec struct {
				InitContainers []k8sContainer `yaml:"initContainers"`
				Containers     []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetesManifest parses deploy/kubernetes/tributary.yaml — several
// replicas, a PodDisruptionBudget, the migration as an init container — and
// runs what it says: the init container's args, then the main container's
// args on the ConfigMap's pipeline file, and asks the binary the liveness and
// readiness paths on the port the probes name.
func TestKubernetesManifest(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "kubernetes", "tributary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]k8sObject{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var o k8sObject
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("deploy/kubernetes/tributary.yaml: %v", err)
		}
		objects[o.Kind] = o
	}
	dep, ok := objects["Deployment"]
	if !ok || dep.Spec.Replicas < 2 {
		t.Fatalf("want a Deployment of several replicas, got %+v", dep.Spec.Replicas)
	}
	if pdb, ok := objects["PodDisruptionBudget"]; !ok || pdb.Spec.MaxUnavailable == nil {
		t.Fatalf("want a PodDisruptionBudget with maxUnavailable")
	}
	pod := dep.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || !slices.Equal(pod.InitContainers[0].Args, []string{"migrate"}) {
		t.Fatalf("want one init container running migrate, got %+v", pod.InitContainers)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Fatal("the container needs a liveness and a readiness probe")
	}
	pipelines := objects["ConfigMap"].Data["pipelines.yaml"]
	if pipelines == "" {
		t.Fatal("no pipelines.yaml in the ConfigMap")
	}
	file := filepath.Join(t.TempDir(), "pipelines.yaml")
	if err := os.WriteFile(file, []byte(pipelines), 0o644); err != nil {
		t.Fatal(err)
	}

	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "TRIBUTARY_ADMIN_TOKEN=k8s-test-token", "TRIBUTARY_INSTANCE_ID=tributary-0"}
	if r := runCLI(t, env, pod.InitContainers[0].Args...); r.code != 0 {
		t.Fatalf("init container %v: %+v", pod.InitContainers[0].Args, r)
	}
	// The container's args, with the mounted file and its ports moved to free
	// loopback ones: each probe's port (by name or number) must be one the
	// binary is told to listen on.
	moved := map[string]string{} // container port → free address
	args := slices.Clone(c.Args)
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-c", "--config":
			args[i+1] = file
		case "--metrics-addr", "--admin":
			_, port, _ := strings.Cut(args[i+1], ":")
			moved[port] = freeAddr(t)
			args[i+1] = moved[port]
		}
	}
	probeAddr := func(p *k8sProbe) string {
		port := ""
		switch v := p.HTTPGet.Port.(type) {
		case string:
			for _, cp := range c.Ports {
				if cp.Name == v {
					port = strconv.Itoa(cp.ContainerPort)
				}
			}
		case uint64:
			port = strconv.Itoa(int(v))
		case int64:
			port = strconv.Itoa(int(v))
		}
		if moved[port] == "" {
			t.Fatalf("probe %s names port %v, which the container's args do not serve (%v)", p.HTTPGet.Path, p.HTTPGet.Port, c.Args)
		}
		return moved[port]
	}
	run := start(t, env, args...)
	for _, p := range []*k8sProbe{c.LivenessProbe, c.ReadinessProbe} {
		url := "http://" + probeAddr(p) + p.HTTPGet.Path
		waitFor(t, 60*time.Second, "200 from "+p.HTTPGet.Path, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	// A clean stop (SIGTERM, as Kubernetes sends) logs no ERROR line.
	run.stop(t)
	if strings.Contains(run.stderr.String(), `"level":"ERROR"`) {
		t.Errorf("a clean stop logged an ERROR:\n%s", tail(run.stderr.String(), 3000))
	}
}
