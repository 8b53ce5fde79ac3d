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

	"github.com/tributary-dev/tributary/sources/webhookin"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// The webhookin source is sources/webhookin served by its own http.Server on
// `listen` at `path`. The server listens from Subscribe until the
// subscription's context is cancelled or the source is closed, so a built but
// never-run source (validate, operator commands) holds no port.
func init() {
	RegisterSource("webhookin", "receives webhooks over HTTP (Basic auth, token, Standard Webhooks signatures)",
		func(env Env, o *WebhookInOptions) (message.Subscriber, error) {
			cfg := o.config()
			cfg.Name = env.Name
			src, err := webhookin.NewSource(cfg, env.Logger)
			if err != nil {
				return nil, err
			}
			logger := env.Logger
			if logger == nil {
				logger = watermill.NopLogger{}
			}
			return &WebhookIn{Source: src, addr: o.addr(), path: o.path(), logger: logger, closing: make(chan struct{})}, nil
		})
}

// Defaults of the webhookin source.
const (
	DefaultWebhookInListen = "127.0.0.1:8091"
	DefaultWebhookInPath   = "/webhook"
)

// WebhookInOptions configures the webhookin source; it maps onto webhookin.Config.
type WebhookInOptions struct {
	// Listen is the address to serve on; 127.0.0.1:8091 when empty. A bare
	// ":port" binds loopback; write 0.0.0.0:port to listen on every interface.
	Listen string `yaml:"listen"`
	// Path is where webhooks are POSTed; /webhook when empty.
	Path string `yaml:"path"`
	// BasicAuth, when set, is required.
	BasicAuth *BasicAuthOptions `yaml:"basic_auth"`
	// Token, when set, must arrive in TokenHeader ("token" when empty).
	Token       string `yaml:"token"`
	TokenHeader string `yaml:"token_header"`
	// Secrets are Standard Webhooks secrets (whsec_…); a valid signature by
	// any of them is required. Tolerance bounds the timestamp's age (5 min).
	Secrets   []string      `yaml:"secrets"`
	Tolerance time.Duration `yaml:"tolerance"`
	// AllowUnauthenticated must be set to run with no check at all; only on
	// a loopback address.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// MaxBodyBytes refuses larger bodies with 413 (1 MiB when zero).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AckTimeout bounds the wait for the event to be stored (30 s).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// EventIDField and EventTypeField name the body's JSON fields ("id", "type").
	EventIDField   string `yaml:"event_id_field"`
	EventTypeField string `yaml:"event_type_field"`
}

func (o *WebhookInOptions) config() webhookin.Config {
	cfg := webhookin.Config{
		Token: o.Token, TokenHeader: o.TokenHeader, Secrets: o.Secrets, Tolerance: o.Tolerance,
		AllowUnauthenticated: o.AllowUnauthenticated, MaxBodyBytes: o.MaxBodyBytes, AckTimeout: o.AckTimeout,
		EventIDField: o.EventIDField, EventTypeField: o.EventTypeField,
	}
	if o.BasicAuth != nil {
		cfg.BasicAuth = &webhookin.BasicAuth{Username: o.BasicAuth.Username, Password: o.BasicAuth.Password}
	}
	return cfg
}

func (o *WebhookInOptions) addr() string {
	switch {
	case o.Listen == "":
		return DefaultWebhookInListen
	case strings.HasPrefix(o.Listen, ":"):
		return "127.0.0.1" + o.Listen
	}
	return o.Listen
}

func (o *WebhookInOptions) path() string {
	if o.Path == "" {
		return DefaultWebhookInPath
	}
	return o.Path
}

// Validate implements Validator. Its messages name the YAML keys (each a
// components.Field, so validate points at the key's line); webhookin.Config's
// own Validate, which speaks of Go field names, is consulted only for what
// these checks do not cover.
func (o *WebhookInOptions) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(o.addr())
	if err != nil || port == "" {
		errs = append(errs, Field("listen", "%q: want host:port, such as 127.0.0.1:8091", o.Listen))
	} else if o.AllowUnauthenticated && !loopbackHost(host) {
		errs = append(errs, Field("listen", "%q: allow_unauthenticated only on a loopback address; configure basic_auth, token or secrets", o.Listen))
	}
	if p := o.path(); !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}") {
		errs = append(errs, Field("path", "%q: want an absolute path such as /webhook", o.Path))
	}
	if o.BasicAuth == nil && o.Token == "" && len(o.Secrets) == 0 && !o.AllowUnauthenticated {
		errs = append(errs, Field("allow_unauthenticated", "no basic_auth, token or secrets: anyone could inject events; configure one, or set allow_unauthenticated: true to mean it (loopback only)"))
	}
	if o.BasicAuth != nil {
		if o.BasicAuth.Username == "" {
			errs = append(errs, Field("basic_auth.username", "is required"))
		}
		if o.BasicAuth.Password == "" {
			errs = append(errs, Field("basic_auth.password", "is required (use ${ENV})"))
		}
	}
	for i, sec := range o.Secrets {
		if _, err := signature.ParseSecret(sec); err != nil {
			errs = append(errs, Field(fmt.Sprintf("secrets[%d]", i), "%s", strings.TrimPrefix(err.Error(), "signature: "))) // never quotes the secret
		}
	}
	for key, d := range map[string]time.Duration{"tolerance": o.Tolerance, "ack_timeout": o.AckTimeout} {
		if d < 0 {
			errs = append(errs, Field(key, "%s: must not be negative", d))
		}
	}
	if o.MaxBodyBytes < 0 {
		errs = append(errs, Field("max_body_bytes", "%d: must not be negative", o.MaxBodyBytes))
	}
	if len(errs) == 0 {
		// Anything the package checks that the lines above do not.
		if err := o.config().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	w.server, w.bound = srv, ln.Addr().String()
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
