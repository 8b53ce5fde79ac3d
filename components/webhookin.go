package components

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/net/netutil"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// The webhookin source is sources/webhookin served by its own http.Server on
// `listen` at `path`. The server listens from Subscribe until the
// subscription's context is cancelled or the source is closed, so a built but
// never-run source (validate, operator commands) holds no port.
func init() {
	RegisterSource("webhookin", "receives webhooks over HTTP (Basic auth, token, Standard Webhooks signatures)",
		func(env Env, o *WebhookInConfig) (message.Subscriber, error) {
			cfg := o.Config
			src, err := webhookin.NewSource(cfg, env.Logger)
			if err != nil {
				return nil, err
			}
			logger := env.Logger
			if logger == nil {
				logger = watermill.NopLogger{}
			}
			return &WebhookIn{Source: src, addr: o.addr(), path: o.path(), maxConns: o.maxConnections(),
				logger: logger, closing: make(chan struct{})}, nil
		}, RunOnEveryInstance()) // it receives: every instance serves its port
}

// Defaults of the webhookin source.
const (
	DefaultWebhookInListen = "127.0.0.1:8091"
	DefaultWebhookInPath   = "/webhook"
)

// WebhookInConfig is the webhookin source's options: webhookin.Config and
// the server in front of it.
type WebhookInConfig struct {
	// Listen is the address to serve on; 127.0.0.1:8091 when empty. A bare
	// ":port" binds loopback; write 0.0.0.0:port to listen on every interface.
	Listen string `yaml:"listen"`
	// Path is where webhooks are POSTed; /webhook when empty.
	Path string `yaml:"path"`
	// MaxConnections caps the open connections; one more waits in the
	// listen backlog until one closes. 512 when zero.
	MaxConnections   int `yaml:"max_connections"`
	webhookin.Config `yaml:",inline"`
}

// Limits of the webhookin source's server (see docs/webhooks.md for the
// memory they bound).
const (
	DefaultWebhookInMaxConnections = 512
	// webhookInMaxHeaderBytes caps one request's headers (net/http's
	// default is 1 MiB): a sender's headers are credentials, ids and a
	// signature, far under it.
	webhookInMaxHeaderBytes = 64 << 10
)

func (o *WebhookInConfig) maxConnections() int {
	if o.MaxConnections == 0 {
		return DefaultWebhookInMaxConnections
	}
	return o.MaxConnections
}

func (o *WebhookInConfig) addr() string {
	switch {
	case o.Listen == "":
		return DefaultWebhookInListen
	case strings.HasPrefix(o.Listen, ":"):
		return "127.0.0.1" + o.Listen
	}
	return o.Listen
}

func (o *WebhookInConfig) path() string {
	if o.Path == "" {
		return DefaultWebhookInPath
	}
	return o.Path
}

// Validate checks the server's options and then webhookin.Config's.
func (o *WebhookInConfig) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(o.addr())
	if err != nil || port == "" {
		errs = append(errs, tributary.Option("listen", "%q: want host:port, such as 127.0.0.1:8091", o.Listen))
	} else if o.AllowUnauthenticated && !loopbackHost(host) {
		errs = append(errs, tributary.Option("listen", "%q: allow_unauthenticated only on a loopback address; configure basic_auth, token or secrets", o.Listen))
	}
	if o.MaxConnections < 0 {
		errs = append(errs, tributary.Option("max_connections", "%d: must not be negative", o.MaxConnections))
	}
	if p := o.path(); !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}") {
		errs = append(errs, tributary.Option("path", "%q: want an absolute path such as /webhook", o.Path))
	}
	return errors.Join(append(errs, o.Config.Validate())...)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WebhookIn is the built webhookin source: a *webhookin.Source and the HTTP
// server in front of it.
type WebhookIn struct {
	*webhookin.Source
	addr, path string
	maxConns   int
	logger     watermill.LoggerAdapter

	closing   chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	server *http.Server
	bound  string
	wg     sync.WaitGroup
}

// Addr is the address the server listens on ("" before Subscribe).
func (w *WebhookIn) Addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bound
}

// Subscribe starts the HTTP server, then subscribes to the source; the
// server stops when ctx is cancelled or Close is called.
func (w *WebhookIn) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.server != nil {
		return nil, errors.New("webhookin: already subscribed")
	}
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return nil, fmt.Errorf("webhookin: listen: %w", err)
	}
	// A sender's traceparent is kept (the source passes a valid one on);
	// otherwise the event starts a trace of its own, like the other sources'.
	ch, err := startTraces(w.Source).Subscribe(ctx, topic)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+w.path, w.Source)
	// Headers have ReadHeaderTimeout and a size cap; bodies, the source's
	// body_timeout and max_concurrent_requests; connections, max_connections.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: webhookInMaxHeaderBytes}
	w.server, w.bound = srv, ln.Addr().String()
	ln = netutil.LimitListener(ln, w.maxConns)
	w.logger.Info("Webhook receiver listening", watermill.LogFields{"addr": w.bound, "path": w.path})
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.logger.Error("Webhook receiver stopped", err, watermill.LogFields{"addr": w.bound})
		}
	}()
	go func() {
		defer w.wg.Done()
		select {
		case <-ctx.Done():
		case <-w.closing:
		}
		w.shutdown(srv)
	}()
	return ch, nil
}

func (w *WebhookIn) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // the subscription has ended: requests in flight answer 503
	w.mu.Lock()
	if w.server == srv {
		w.server = nil
	}
	w.mu.Unlock()
}

// Close ends the subscription and stops the server.
func (w *WebhookIn) Close() error {
	err := w.Source.Close()
	w.closeOnce.Do(func() { close(w.closing) })
	w.wg.Wait()
	return err
}
