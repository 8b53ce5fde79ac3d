package client

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
)

// Mode is how events are framed on the WebSocket.
type Mode string

const (
	// ModeSocketIO speaks Engine.IO v3 / Socket.IO 2.x (the default).
	ModeSocketIO Mode = "socketio"
	// ModeJSON reads one JSON event per text frame with no Socket.IO framing;
	// the event name is the frame's TopicField. Keepalive uses WebSocket pings.
	ModeJSON Mode = "json"
)

// Config configures a Client. In a pipeline file it is inlined in the
// socketio source's and the socketcommand sink's `options:` (each field's
// yaml tag is its key there).
type Config struct {
	// URL of the server, e.g. wss://panel-1.example.com?token=… (a token in the URL
	// is used as a static token and never logged), or http(s)://… . In
	// ModeSocketIO the path defaults to Path and EIO=3&transport=websocket
	// is added; in ModeJSON the URL is dialled as given (plus the token).
	URL string `yaml:"url"`
	// Mode; ModeSocketIO when empty.
	Mode Mode `yaml:"mode"`
	// Path is the Engine.IO path used when URL has none; "/socket.io/" when empty.
	Path string `yaml:"path"`
	// Namespace to join; "/" when empty.
	Namespace string `yaml:"namespace"`
	// Token provides the token sent as TokenParam in the dial URL and in
	// `renewedToken`. TokenProvider wins over Token when both are set.
	// Without either, no token is sent.
	Token         TokenConfig   `yaml:"token"`
	TokenProvider TokenProvider `yaml:"-"`
	// TokenParam is the query parameter carrying the token; "token" when empty.
	TokenParam string `yaml:"token_param"`
	// Headers are sent with the WebSocket handshake.
	Headers map[string]string `yaml:"headers"`
	// HTTPClient dials the WebSocket; http.DefaultClient when nil.
	HTTPClient *http.Client `yaml:"-"`
	// DialTimeout bounds the WebSocket handshake; 10 s when zero.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// CloseTimeout bounds a clean Close, which hands on events until the
	// server confirms the leave (a Socket.IO DISCONNECT, or in ModeJSON a
	// WebSocket ping) or closes the transport; 5 s when zero.
	CloseTimeout time.Duration `yaml:"close_timeout"`
	// OpenTimeout bounds the wait for the open packet and the namespace
	// connect packet; 10 s when zero.
	OpenTimeout time.Duration `yaml:"open_timeout"`
	// MaxFrameBytes bounds one frame; 1 MiB when zero.
	MaxFrameBytes int64 `yaml:"max_frame_bytes"`
	// PingInterval and PingTimeout drive keepalive in ModeJSON (in ModeSocketIO
	// the server's open packet sets them); 25 s and 20 s when zero.
	PingInterval time.Duration `yaml:"ping_interval"`
	PingTimeout  time.Duration `yaml:"ping_timeout"`
	// TopicField names the event name in ModeJSON frames; "topic" when empty.
	TopicField string `yaml:"topic_field"`
	// Backoff spaces reconnects.
	Backoff Backoff `yaml:"backoff"`
	// RenewEvent is the event that asks for a new token ("invalidToken") and
	// RenewedEvent the one that answers it ("renewedToken").
	RenewEvent   string `yaml:"renew_event"`
	RenewedEvent string `yaml:"renewed_event"`
	// RenewMinInterval ignores invalidToken for this long after a renewal
	// (the server may have sent several before it saw the new token); 1 s
	// when zero.
	RenewMinInterval time.Duration `yaml:"renew_min_interval"`
}

func (c *Config) setDefaults() {
	c.Mode = cmp.Or(c.Mode, ModeSocketIO)
	c.Path = cmp.Or(c.Path, "/socket.io/")
	c.Namespace = cmp.Or(c.Namespace, "/")
	c.TokenParam = cmp.Or(c.TokenParam, "token")
	c.HTTPClient = cmp.Or(c.HTTPClient, http.DefaultClient)
	c.DialTimeout = cmp.Or(c.DialTimeout, 10*time.Second)
	c.OpenTimeout = cmp.Or(c.OpenTimeout, 10*time.Second)
	c.CloseTimeout = cmp.Or(c.CloseTimeout, 5*time.Second)
	c.MaxFrameBytes = cmp.Or(c.MaxFrameBytes, 1<<20)
	c.PingInterval = cmp.Or(c.PingInterval, 25*time.Second)
	c.PingTimeout = cmp.Or(c.PingTimeout, 20*time.Second)
	c.TopicField = cmp.Or(c.TopicField, "topic")
	c.RenewEvent = cmp.Or(c.RenewEvent, "invalidToken")
	c.RenewedEvent = cmp.Or(c.RenewedEvent, "renewedToken")
	c.RenewMinInterval = cmp.Or(c.RenewMinInterval, time.Second)
	c.Backoff.setDefaults()
}

// Validate reports what is wrong with c (its defaults filled in as
// NewClient fills them; c is not changed), each an *tributary.OptionError
// naming its key. It never quotes the URL, whose query may hold the token,
// nor any token option.
func (c Config) Validate() error {
	raw := c
	c.setDefaults()
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if c.URL == "" {
		bad("url", "required (ws://, wss://, http:// or https://)")
	} else if u, err := url.Parse(c.URL); err != nil {
		bad("url", "does not parse")
	} else if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" && s != "http" && s != "https" {
		bad("url", "scheme %q: want ws, wss, http or https", u.Scheme)
	} else if u.Host == "" {
		bad("url", "has no host")
	}
	if c.Mode != ModeSocketIO && c.Mode != ModeJSON {
		bad("mode", "%q: want %s or %s", c.Mode, ModeSocketIO, ModeJSON)
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "%q: want an absolute path such as /socket.io/", c.Path)
	}
	if !strings.HasPrefix(c.Namespace, "/") || strings.ContainsAny(c.Namespace, ",?") {
		bad("namespace", "%q: want /name without ',' or '?'", c.Namespace)
	}
	for _, d := range []struct {
		key string
		v   int64
	}{{"dial_timeout", int64(c.DialTimeout)}, {"open_timeout", int64(c.OpenTimeout)}, {"close_timeout", int64(c.CloseTimeout)},
		{"ping_interval", int64(c.PingInterval)}, {"ping_timeout", int64(c.PingTimeout)},
		{"renew_min_interval", int64(c.RenewMinInterval)}, {"max_frame_bytes", c.MaxFrameBytes}} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if c.Backoff.Initial < 0 || c.Backoff.Max < 0 {
		bad("backoff", "initial and max must not be negative")
	} else if c.Backoff.Max < c.Backoff.Initial {
		bad("backoff.max", "%s must not be below backoff.initial (%s)", c.Backoff.Max, c.Backoff.Initial)
	}
	if j := raw.Backoff.Jitter; j > 1 || (j < 0 && j != -1) {
		bad("backoff.jitter", "%g: want a fraction from 0 to 1 (or -1 for none)", j)
	}
	errs = append(errs, tributary.Nested("token", c.Token.validate()))
	return errors.Join(errs...)
}
