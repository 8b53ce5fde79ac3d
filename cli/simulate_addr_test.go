package cli

import (
	"strings"
	"testing"
)

// TestSimulateRefusesRemoteAddr: the simulators hand out tokens and default
// credentials, so `simulate --addr` off loopback is refused unless
// --allow-remote says so; a bare :port is loopback.
func TestSimulateRefusesRemoteAddr(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "10.1.2.3:0", "example.com:0"} {
		code, out, errs := execute(t, nil, "simulate", "--addr", addr)
		if code != ExitUsage || !strings.Contains(out+errs, "--allow-remote") {
			t.Errorf("simulate --addr %s: exit %d, want %d naming --allow-remote\nout: %s\nerr: %s", addr, code, ExitUsage, out, errs)
		}
	}
	for _, c := range []struct {
		addr, want string
		loopback   bool
	}{{":8090", "127.0.0.1:8090", true}, {"localhost:1", "localhost:1", true}, {"[::1]:1", "[::1]:1", true}, {"0.0.0.0:1", "0.0.0.0:1", false}} {
		if got, loopback, err := listenAddr("--addr", c.addr); err != nil || got != c.want || loopback != c.loopback {
			t.Errorf("listenAddr(%q) = %q, %v, %v; want %q, %v", c.addr, got, loopback, err, c.want, c.loopback)
		}
	}
}
