package benchtable_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBenchChild is the benchmark's helper processes, never a test of its
// own: BENCH_CHILD=send POSTs webhooks (the senders of the webhookin rows,
// outside the measured process), BENCH_CHILD=spin keeps one core busy (the
// load of the latency row).
func TestBenchChild(t *testing.T) {
	switch os.Getenv("BENCH_CHILD") {
	case "send":
		send(t)
	case "spin":
		for {
		}
	default:
		t.Skip("runs only as a helper process of the benchmarks")
	}
}

// send POSTs BENCH_SEND_N events to BENCH_SEND_URL from BENCH_SEND_C
// goroutines, each event again until it is answered 2xx, and prints how
// many answers were not.
func send(t *testing.T) {
	url := os.Getenv("BENCH_SEND_URL")
	n, _ := strconv.Atoi(os.Getenv("BENCH_SEND_N"))
	c, _ := strconv.Atoi(os.Getenv("BENCH_SEND_C"))
	prefix := os.Getenv("BENCH_SEND_PREFIX")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}, Timeout: time.Minute}
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				body := bytes.Replace(payload, []byte(`"id":"x"`), []byte(`"id":"`+prefix+strconv.FormatInt(i, 10)+`"`), 1)
				for {
					resp, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							break
						}
					}
					refused.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("refused %d\n", refused.Load())
}

// startChild runs this test binary as a helper process (TestBenchChild).
func startChild(b *testing.B, kind string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$")
	cmd.Env = append(append(os.Environ(), "BENCH_CHILD="+kind), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd
}

// spin starts a process keeping one core busy; stop ends it.
func spin(b *testing.B) (stop func()) {
	cmd := startChild(b, "spin", "GOMAXPROCS=1")
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}
