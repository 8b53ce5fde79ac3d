package brokertest

import (
	"net"
	"testing"
)

// tbRecorder is a testing.TB that notes Fatal and Skip instead of stopping.
type tbRecorder struct {
	testing.TB
	fatal, skip bool
}

func (r *tbRecorder) Helper()               {}
func (r *tbRecorder) Fatalf(string, ...any) { r.fatal = true }
func (r *tbRecorder) Skipf(string, ...any)  { r.skip = true }

// TestMissingBrokerFailsUnderRequirePeers: a broker that does not answer
// skips the test on a developer machine and fails it in CI.
func TestMissingBrokerFailsUnderRequirePeers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	for _, tc := range []struct {
		require     string
		fatal, skip bool
	}{{"1", true, false}, {"", false, true}} {
		t.Setenv("RABBITMQ_URL", "amqp://guest:guest@"+closed+"/")
		t.Setenv("REDIS_URL", "redis://"+closed+"/0")
		t.Setenv("TRIBUTARY_REQUIRE_PEERS", tc.require)
		for name, f := range map[string]func(testing.TB) string{"rabbitmq": RabbitMQ, "redis": Redis} {
			r := &tbRecorder{TB: t}
			f(r)
			if r.fatal != tc.fatal || r.skip != tc.skip {
				t.Errorf("%s, TRIBUTARY_REQUIRE_PEERS=%q: fatal %v skip %v, want %v %v", name, tc.require, r.fatal, r.skip, tc.fatal, tc.skip)
			}
		}
	}
}
