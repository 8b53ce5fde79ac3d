package benchtable_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The binary's own path: `tributary run` with a pipeline file — the
// sources and sinks built by config loading, the metrics, monitor and
// delivery log the binary adds — measured in its own process.
const binaryPipeline = `pipelines:
  - name: bench
    sources:
      - name: hooks
        type: webhookin
        options:
          listen: ${WEBHOOKIN_LISTEN}
          path: /hooks
          allow_unauthenticated: true
          max_concurrent_requests: ${SENDERS}
    sinks:
      - name: hook
        type: webhook
        concurrency: 16
        options:
          url: ${RECEIVER_URL}
          allow_private_networks: true
          token: bench-token
          secrets: [` + secret + `]
`

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// tributaryBinary builds cmd/tributary once per test binary.
func tributaryBinary(b *testing.B) string {
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tributary-bench-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "tributary")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/tributary")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = err
			binaryPath = string(out)
		}
	})
	if binaryErr != nil {
		b.Fatalf("build cmd/tributary: %v\n%s", binaryErr, binaryPath)
	}
	return binaryPath
}

// binaryRun: `senders` senders in a process of their own POST n events to
// the binary's webhookin source; its webhook sink delivers them to the
// receiver here. CPU and allocations per event are the binary's.
func binaryRun(b *testing.B, s *server, n, senders int) cost {
	bin := tributaryBinary(b)
	return runCost(b, s, func(pool *pgxpool.Pool) (int, time.Duration, *procCost) {
		dir := b.TempDir()
		file := filepath.Join(dir, "bench.yaml")
		if err := os.WriteFile(file, []byte(binaryPipeline), 0o644); err != nil {
			b.Fatal(err)
		}
		recv := newReceiver(n)
		srv := httptest.NewServer(recv)
		defer srv.Close()
		listen, metrics := freeAddr(b), freeAddr(b)
		cmd := exec.Command(bin, "run", "-c", file, "--metrics-addr", metrics, "--log-level", "error")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+pool.Config().ConnString(), "WEBHOOKIN_LISTEN="+listen,
			"RECEIVER_URL="+srv.URL, "SENDERS="+strconv.Itoa(senders))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		ready := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get("http://" + metrics + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(ready) {
				b.Fatalf("the binary is not ready:\n%s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		pid := strconv.Itoa(cmd.Process.Pid)
		cpu0, m0 := treeCPU(pid), scrape(b, metrics, "go_memstats_mallocs_total")
		start := time.Now()
		child := startChild(b, "send", "BENCH_SEND_URL=http://"+listen+"/hooks", "BENCH_SEND_N="+strconv.Itoa(n),
			"BENCH_SEND_C="+strconv.Itoa(senders), "BENCH_SEND_PREFIX=bin-")
		select {
		case <-recv.done:
		case <-time.After(10 * time.Minute):
			b.Fatalf("the binary did not deliver everything in 10 minutes:\n%s", stderr.String())
		}
		took := time.Since(start)
		_ = child.Wait()
		proc := &procCost{cpu: treeCPU(pid) - cpu0, allocs: scrape(b, metrics, "go_memstats_mallocs_total") - m0}
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		return n, took, proc
	})
}

// scrape reads one unlabelled counter from a /metrics page.
func scrape(b *testing.B, addr, name string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	b.Fatalf("%s not on %s/metrics", name, addr)
	return 0
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
