package components

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// The socketio source reads an access-control event stream over Socket.IO
// 2.x, or a plain WebSocket of JSON events (mode: json), and emits every
// event, or those its topic filter keeps, as a message.
func init() {
	RegisterSource("socketio", "events of a Socket.IO 2.x access-control stream or a JSON WebSocket, with token renewal",
		func(env Env, o *SocketIOOptions) (message.Subscriber, error) {
			// The client names its source in its lines; Env.Logger has it already.
			sub, err := socketio.NewSubscriber(o.Config(env.Name), withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			if err != nil {
				return nil, err
			}
			return startTraces(sub), nil
		})
}

// SocketOptions is the connection part of the socketio source's and the
// socketcommand sink's options (inlined in both).
type SocketOptions struct {
	// URL of the server: ws(s):// or http(s)://; a ?token= in it is a static token.
	URL string `yaml:"url"`
	// Mode is socketio (default) or json (one JSON event per frame).
	Mode string `yaml:"mode"`
	// Path is the Engine.IO path when URL has none (/socket.io/).
	Path string `yaml:"path"`
	// Namespace to join (/).
	Namespace string `yaml:"namespace"`
	// Token chooses where tokens come from; omit it for a server without tokens.
	Token *SocketTokenOptions `yaml:"token"`
	// TokenParam is the query parameter carrying the token (token).
	TokenParam string `yaml:"token_param"`
	// Headers are sent with the WebSocket handshake.
	Headers map[string]string `yaml:"headers"`
	// Backoff spaces reconnects: initial·2^(n-1) up to max, ±jitter.
	Backoff *SocketBackoffOptions `yaml:"backoff"`
	// Limits and timeouts; zero keeps the library default.
	DialTimeout      time.Duration `yaml:"dial_timeout"`       // 10s
	OpenTimeout      time.Duration `yaml:"open_timeout"`       // 10s
	MaxFrameBytes    int64         `yaml:"max_frame_bytes"`    // 1 MiB
	PingInterval     time.Duration `yaml:"ping_interval"`      // json mode: 25s
	PingTimeout      time.Duration `yaml:"ping_timeout"`       // json mode: 20s
	TopicField       string        `yaml:"topic_field"`        // json mode: topic
	RenewMinInterval time.Duration `yaml:"renew_min_interval"` // 1s
}

// SocketTokenOptions is one of static, command or url.
type SocketTokenOptions struct {
	// Static is a fixed token (use ${ENV}).
	Static string `yaml:"static"`
	// Command is run (no shell); its trimmed stdout is the token.
	Command []string `yaml:"command"`
	// URL is fetched with GET; the JSON answer's Field (token), or the whole body.
	URL    string            `yaml:"url"`
	Field  string            `yaml:"field"`
	Header map[string]string `yaml:"headers"`
	// Timeout bounds one fetch (10s).
	Timeout time.Duration `yaml:"timeout"`
}

// SocketBackoffOptions mirrors client.Backoff.
type SocketBackoffOptions struct {
	Initial time.Duration `yaml:"initial"` // 500ms
	Max     time.Duration `yaml:"max"`     // 30s
	Jitter  float64       `yaml:"jitter"`  // 0.2; -1 for none
}

// SocketIOOptions configures the socketio source.
type SocketIOOptions struct {
	SocketOptions `yaml:",inline"`
	// Topics keeps matching events only: names, prefixes such as door.*, or *.
	Topics []string `yaml:"topics"`
	// MaxInFlight messages await their ack at once (1 keeps the socket's order).
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxPending bounds events held in memory before the socket is not read further (10000).
	MaxPending int `yaml:"max_pending"`
	// NackDelay is the pause before a nacked event is redelivered (100ms).
	NackDelay time.Duration `yaml:"nack_delay"`
}

// Validate implements Validator; messages name the file's keys.
func (o *SocketIOOptions) Validate() error {
	errs := o.SocketOptions.validate()
	if o.MaxInFlight < 0 {
		errs = append(errs, errors.New("max_in_flight must not be negative"))
	}
	if o.MaxPending < 0 {
		errs = append(errs, errors.New("max_pending must not be negative"))
	}
	if o.MaxPending > 0 && o.MaxInFlight > o.MaxPending {
		errs = append(errs, fmt.Errorf("max_in_flight (%d) must not exceed max_pending (%d)", o.MaxInFlight, o.MaxPending))
	}
	if o.NackDelay < 0 {
		errs = append(errs, errors.New("nack_delay must not be negative"))
	}
	for i, t := range o.Topics {
		if t == "" || strings.Contains(strings.TrimSuffix(t, "*"), "*") {
			errs = append(errs, fmt.Errorf("topics[%d] %q: want an event name, a prefix ending in * (door.*) or *", i, t))
		}
	}
	if len(errs) > 0 {
		return joinProblems(errs)
	}
	// The library's own checks as a backstop (they name Go fields).
	return socketio.Config{Socket: o.SocketOptions.client("validate"), Topics: o.Topics,
		MaxInFlight: o.MaxInFlight, MaxPending: o.MaxPending, NackDelay: o.NackDelay}.Validate()
}

// Config maps the options onto the source's Config; name labels logs and metrics.
func (o *SocketIOOptions) Config(name string) socketio.Config {
	return socketio.Config{Socket: o.SocketOptions.client(name), Topics: o.Topics,
		MaxInFlight: o.MaxInFlight, MaxPending: o.MaxPending, NackDelay: o.NackDelay}
}

// joinProblems reports every problem on one line, as `tributary validate`
// prints one line per error position.
func joinProblems(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// validate checks the connection options. It never quotes the URL, whose
// query may hold a token, nor any token option.
func (o *SocketOptions) validate() []error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("url is required (ws://, wss://, http:// or https://)"))
	} else if u, err := url.Parse(o.URL); err != nil {
		errs = append(errs, errors.New("url does not parse"))
	} else if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" && s != "http" && s != "https" {
		errs = append(errs, fmt.Errorf("url scheme %q: want ws, wss, http or https", u.Scheme))
	} else if u.Host == "" {
		errs = append(errs, errors.New("url has no host"))
	}
	switch o.Mode {
	case "", string(client.ModeSocketIO), string(client.ModeJSON):
	default:
		errs = append(errs, fmt.Errorf("mode %q: want socketio or json", o.Mode))
	}
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("path %q: want an absolute path such as /socket.io/", o.Path))
	}
	if o.Namespace != "" && (!strings.HasPrefix(o.Namespace, "/") || strings.ContainsAny(o.Namespace, ",?")) {
		errs = append(errs, fmt.Errorf("namespace %q: want /name without ',' or '?'", o.Namespace))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"dial_timeout", o.DialTimeout}, {"open_timeout", o.OpenTimeout}, {"ping_interval", o.PingInterval},
		{"ping_timeout", o.PingTimeout}, {"renew_min_interval", o.RenewMinInterval}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.name))
		}
	}
	if o.MaxFrameBytes < 0 {
		errs = append(errs, errors.New("max_frame_bytes must not be negative"))
	}
	if b := o.Backoff; b != nil {
		if b.Initial < 0 || b.Max < 0 {
			errs = append(errs, errors.New("backoff.initial and backoff.max must not be negative"))
		}
		initial, max := b.Initial, b.Max
		if initial == 0 {
			initial = 500 * time.Millisecond
		}
		if max == 0 {
			max = 30 * time.Second
		}
		if max < initial {
			errs = append(errs, fmt.Errorf("backoff.max (%s) must not be below backoff.initial (%s)", max, initial))
		}
		if b.Jitter > 1 || (b.Jitter < 0 && b.Jitter != -1) {
			errs = append(errs, fmt.Errorf("backoff.jitter %g: want a fraction from 0 to 1 (or -1 for none)", b.Jitter))
		}
	}
	if t := o.Token; t != nil {
		n := 0
		for _, set := range []bool{t.Static != "", len(t.Command) > 0, t.URL != ""} {
			if set {
				n++
			}
		}
		switch {
		case n == 0:
			errs = append(errs, errors.New("token: set one of static, command or url (or leave token out)"))
		case n > 1:
			errs = append(errs, errors.New("token: set only one of static, command and url"))
		}
		if len(t.Command) > 0 && t.Command[0] == "" {
			errs = append(errs, errors.New("token.command[0] must name a program"))
		}
		if t.URL != "" {
			if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, errors.New("token.url: want an absolute http:// or https:// URL"))
			}
		} else if t.Field != "" || len(t.Header) > 0 {
			errs = append(errs, errors.New("token.field and token.headers apply to token.url only"))
		}
		if t.Timeout < 0 {
			errs = append(errs, errors.New("token.timeout must not be negative"))
		}
	}
	return errs
}

// client maps the options onto client.Config.
func (o *SocketOptions) client(name string) client.Config {
	c := client.Config{
		Name: name, URL: o.URL, Mode: client.Mode(o.Mode), Path: o.Path, Namespace: o.Namespace,
		TokenParam: o.TokenParam, DialTimeout: o.DialTimeout, OpenTimeout: o.OpenTimeout,
		MaxFrameBytes: o.MaxFrameBytes, PingInterval: o.PingInterval, PingTimeout: o.PingTimeout,
		TopicField: o.TopicField, RenewMinInterval: o.RenewMinInterval,
	}
	if len(o.Headers) > 0 {
		c.Header = http.Header{}
		for k, v := range o.Headers {
			c.Header.Set(k, v)
		}
	}
	if b := o.Backoff; b != nil {
		c.Backoff = client.Backoff{Initial: b.Initial, Max: b.Max, Jitter: b.Jitter}
	}
	if t := o.Token; t != nil {
		c.Token = client.TokenConfig{Static: t.Static, Command: t.Command, URL: t.URL, Field: t.Field, Timeout: t.Timeout}
		if len(t.Header) > 0 {
			c.Token.Header = http.Header{}
			for k, v := range t.Header {
				c.Token.Header.Set(k, v)
			}
		}
	}
	return c
}
