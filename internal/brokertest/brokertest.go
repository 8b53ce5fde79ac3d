// Package brokertest gives broker tests the machine's RabbitMQ and Redis
// (with names of their own, never restarting them) and a loopback TCP proxy
// that cuts a test's connections to them, as a broker restart would.
//
//	url := brokertest.RabbitMQ(t)           // skips, or fails under TRIBUTARY_REQUIRE_PEERS=1
//	p := brokertest.NewProxy(t, url)        // p.URL goes through the proxy
//	p.Cut(); …; p.Restore()
package brokertest

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default addresses of the machine's brokers; RABBITMQ_URL and REDIS_URL
// override them.
const (
	DefaultRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultRedis    = "redis://127.0.0.1:6379/0"
)

// RabbitMQ returns the URL of a RabbitMQ that answers, skipping the test
// when none does (failing it under TRIBUTARY_REQUIRE_PEERS).
func RabbitMQ(tb testing.TB) string {
	return peer(tb, "RABBITMQ_URL", DefaultRabbitMQ, "rabbitmq-server")
}

// Redis returns the URL of a Redis that answers; see RabbitMQ.
func Redis(tb testing.TB) string { return peer(tb, "REDIS_URL", DefaultRedis, "redis-server") }

func peer(tb testing.TB, env, def, pkg string) string {
	tb.Helper()
	raw := cmp.Or(os.Getenv(env), def)
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("%s: %v", env, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err == nil {
		_ = c.Close()
		return raw
	}
	if os.Getenv("TRIBUTARY_REQUIRE_PEERS") != "" {
		tb.Fatalf("%s required (TRIBUTARY_REQUIRE_PEERS is set) at %s: %v; apt-get install -y %s", pkg, u.Host, err, pkg)
	} else {
		tb.Skipf("%s not answering at %s: %v", pkg, u.Host, err)
	}
	return ""
}

// Name returns a name no other test uses: prefix-<test>-<random>, with only
// letters, digits and dashes.
func Name(tb testing.TB, prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	test := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, tb.Name())
	if len(test) > 40 {
		test = test[len(test)-40:]
	}
	return fmt.Sprintf("%s-%s-%s", prefix, test, hex.EncodeToString(b))
}

// Proxy forwards a loopback port to a broker. Cut closes every connection
// through it and refuses new ones until Restore, which is what the
// broker's clients see when it restarts.
type Proxy struct {
	// URL is the broker URL with the proxy's address.
	URL    string
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	// Accepted counts the connections made through the proxy.
	accepted int
}

// NewProxy starts a proxy to the host of brokerURL; it stops with tb.
func NewProxy(tb testing.TB, brokerURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{target: u.Host, ln: ln, conns: map[net.Conn]struct{}{}}
	u.Host = ln.Addr().String()
	p.URL = u.String()
	go p.serve()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
	})
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.accepted++
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	b, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		_ = c.Close()
		_ = b.Close()
		return
	}
	p.conns[c], p.conns[b] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	_ = c.Close()
	_ = b.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Accepted is how many connections the proxy has let through.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}
