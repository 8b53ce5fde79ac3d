package builtin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/tributary-dev/tributary/components"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"golang.org/x/net/netutil"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// The webhookin source is sources/webhookin served by its own http.Server on
// `listen` at `path`. The server listens from Start until the source stops,
// so a built but never-run source (validate, operator commands) holds no
// port.
func init() {
	components.RegisterSource("webhookin", "receives webhooks over HTTP (Basic auth, token, Standard Webhooks signatures)",
		func(env components.Env, o *WebhookInConfig) (tributary.Source, error) {
			cfg := o.Config
			src, err := webhookin.NewSource(cfg, env.Logger)
			if err != nil {
				return nil, err
			}
			logger := cmp.Or[watermill.LoggerAdapter](env.Logger, watermill.NopLogger{})
			return &WebhookIn{Source: src, addr: o.addr(), path: cmp.Or(o.Path, DefaultWebhookInPath),
				maxConns: cmp.Or(o.MaxConnections, DefaultWebhookInMaxConnections), logger: logger}, nil
		}, components.RunOnEveryInstance()) // it receives: every instance serves its port
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

func (o *WebhookInConfig) addr() string {
	switch {
	case o.Listen == "":
		return DefaultWebhookInListen
	case strings.HasPrefix(o.Listen, ":"):
		return "127.0.0.1" + o.Listen
	}
	return o.Listen
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
	if p := cmp.Or(o.Path, DefaultWebhookInPath); !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}") {
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

// WebhookIn is the built webhookin source: a *webhookin.Source (a Watermill
// Subscriber, run through tributary.FromSubscriber) and the HTTP server in
// front of it. It runs once: every instance serves its port, so leadership
// never stops and starts it again.
type WebhookIn struct {
	*webhookin.Source
	addr, path string
	maxConns   int
	logger     watermill.LoggerAdapter

	mu    sync.Mutex
	bound string
}

// Addr is the address the server listens on ("" before Start).
func (w *WebhookIn) Addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bound
}

// Start starts the HTTP server and the source; when ctx ends the source
// stops (answering what it received) and then the server.
func (w *WebhookIn) Start(ctx context.Context, emit tributary.Emit, stopped func(error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bound != "" {
		return errors.New("webhookin: already started")
	}
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return fmt.Errorf("webhookin: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+w.path, w.Source)
	// Headers have ReadHeaderTimeout and a size cap; bodies, the source's
	// body_timeout and max_concurrent_requests; connections, max_connections.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: webhookInMaxHeaderBytes}
	var served sync.WaitGroup
	served.Add(1) // Serve, below
	err = tributary.FromSubscriber(w.Source, "").Start(ctx, emit, func(reason error) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // the source has stopped: requests in flight answer 503
		served.Wait()
		stopped(reason)
	})
	if err != nil {
		served.Done()
		_ = ln.Close()
		return err
	}
	w.bound = ln.Addr().String()
	ln = netutil.LimitListener(ln, w.maxConns)
	w.logger.Info("Webhook receiver listening", watermill.LogFields{"addr": w.bound, "path": w.path})
	go func() {
		defer served.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.logger.Error("Webhook receiver stopped", err, watermill.LogFields{"addr": w.bound})
		}
	}()
	return nil
}
