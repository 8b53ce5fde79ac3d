package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
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

// Config configures a Client.
type Config struct {
	// Name labels logs and metrics (the source name); "socketio" when empty.
	Name string
	// URL of the server, e.g. wss://panel-1.example.com?token=… (a token in the URL
	// is used as a static token and never logged), or http(s)://… . In
	// ModeSocketIO the path defaults to Path and EIO=3&transport=websocket
	// is added; in ModeJSON the URL is dialled as given (plus the token).
	URL string
	// Mode; ModeSocketIO when empty.
	Mode Mode
	// Path is the Engine.IO path used when URL has none; "/socket.io/" when empty.
	Path string
	// Namespace to join; "/" when empty.
	Namespace string
	// Token provides the token sent as TokenParam in the dial URL and in
	// `renewedToken`. TokenProvider wins over Token when both are set.
	Token         TokenConfig
	TokenProvider TokenProvider
	// TokenParam is the query parameter carrying the token; "token" when empty.
	TokenParam string
	// Header is sent with the WebSocket handshake.
	Header http.Header
	// HTTPClient dials the WebSocket; http.DefaultClient when nil.
	HTTPClient *http.Client
	// DialTimeout bounds the WebSocket handshake; 10 s when zero.
	DialTimeout time.Duration
	// OpenTimeout bounds the wait for the open packet and the namespace
	// connect packet; 10 s when zero.
	OpenTimeout time.Duration
	// MaxFrameBytes bounds one frame; 1 MiB when zero.
	MaxFrameBytes int64
	// PingInterval and PingTimeout drive keepalive in ModeJSON (in ModeSocketIO
	// the server's open packet sets them); 25 s and 20 s when zero.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// TopicField names the event name in ModeJSON frames; "topic" when empty.
	TopicField string
	// Backoff spaces reconnects.
	Backoff Backoff
	// RenewEvent is the event that asks for a new token ("invalidToken") and
	// RenewedEvent the one that answers it ("renewedToken").
	RenewEvent   string
	RenewedEvent string
	// RenewMinInterval ignores invalidToken for this long after a renewal
	// (the server may have sent several before it saw the new token); 1 s
	// when zero.
	RenewMinInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "socketio"
	}
	if c.Mode == "" {
		c.Mode = ModeSocketIO
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if c.TokenParam == "" {
		c.TokenParam = "token"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 10 * time.Second
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 1 << 20
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.TopicField == "" {
		c.TopicField = "topic"
	}
	if c.RenewEvent == "" {
		c.RenewEvent = "invalidToken"
	}
	if c.RenewedEvent == "" {
		c.RenewedEvent = "renewedToken"
	}
	if c.RenewMinInterval == 0 {
		c.RenewMinInterval = time.Second
	}
	c.Backoff.setDefaults()
}

// Validate reports what is wrong with c, its defaults filled in as NewClient
// fills them. It never quotes the URL's query, which may hold the token.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	u, err := url.Parse(c.URL)
	if c.URL == "" {
		errs = append(errs, errors.New("URL is required"))
	} else if err != nil {
		errs = append(errs, errors.New("URL does not parse"))
	} else if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" && s != "http" && s != "https" {
		errs = append(errs, fmt.Errorf("URL scheme %q: want ws, wss, http or https", u.Scheme))
	}
	if c.Mode != ModeSocketIO && c.Mode != ModeJSON {
		errs = append(errs, fmt.Errorf("Mode %q: want %q or %q", c.Mode, ModeSocketIO, ModeJSON))
	}
	if !strings.HasPrefix(c.Namespace, "/") || strings.ContainsAny(c.Namespace, ",?") {
		errs = append(errs, fmt.Errorf("Namespace %q: want /name without ',' or '?'", c.Namespace))
	}
	if c.MaxFrameBytes < 0 || c.DialTimeout < 0 || c.OpenTimeout < 0 || c.PingInterval < 0 || c.PingTimeout < 0 {
		errs = append(errs, errors.New("sizes and durations must not be negative"))
	}
	if c.Backoff.Max < c.Backoff.Initial {
		errs = append(errs, errors.New("Backoff.Max must not be below Backoff.Initial"))
	}
	if err := c.Token.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	return nil
}
