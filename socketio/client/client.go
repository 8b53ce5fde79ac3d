package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/namedlog"
	"github.com/tributary-dev/tributary/internal/socketio/wire"
)

// State is where a Client's connection stands.
type State int

// Client states; the numbers are the values of tributary_socketio_connection_state.
const (
	StateIdle State = iota
	StateConnecting
	StateConnected
	StateReconnecting
	StateClosed
)

var stateNames = [...]string{"idle", "connecting", "connected", "reconnecting", "closed"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is a snapshot of a Client's connection, for health checks.
type Status struct {
	State State
	// SessionID is the Engine.IO sid of the live connection.
	SessionID string
	// Connects counts established connections; Reconnects counts lost ones.
	Connects, Reconnects int
	// LastError is the redacted error that ended the last connection attempt.
	LastError string
	// LastEventAt is when the last event arrived.
	LastEventAt time.Time
}

// Event is one event received from the server.
type Event struct {
	// Name is the Socket.IO event name (the provider's topic), or the frame's
	// topic field in ModeJSON.
	Name      string
	Namespace string
	// Data is the first argument (the event object), nil when there is none.
	Data json.RawMessage
	// Args holds every argument.
	Args       []json.RawMessage
	ReceivedAt time.Time
}

// Handler receives events. It runs on the connection's goroutine and may
// block to apply backpressure (keepalive deadlines are extended meanwhile);
// ctx ends when the client closes.
type Handler func(ctx context.Context, ev Event)

// Client keeps one Socket.IO (or plain JSON WebSocket) connection alive:
// it dials, handshakes, pings, renews its token, and reconnects with backoff
// after any failure. Handlers receive every event; Emit sends one.
type Client struct {
	cfg      Config
	logger   *namedlog.Logger // named by Instrument, maybe while connected
	base     *url.URL
	provider TokenProvider

	mu          sync.Mutex
	handlers    map[int]registered
	nextHandler int
	conn        *websocket.Conn
	connected   chan struct{} // closed while connected
	status      Status
	token       string
	tokenStale  bool
	red         redactor
	header      http.Header // cfg.Headers, for the handshake

	// pingInterval and pingTimeout are the live session's (set by its
	// goroutine, read by it only).
	pingInterval, pingTimeout time.Duration

	metrics   atomic.Pointer[clientMetrics]
	renewing  atomic.Bool
	renewedAt atomic.Int64 // unix nanos of the last renewedToken sent
	startOnce sync.Once
	closeOnce sync.Once
	// ctx ends the connection at once; leaving ends when Close begins, and
	// the live session then leaves gracefully (see leave) until ctx ends.
	ctx     context.Context
	cancel  context.CancelFunc
	leaving context.Context
	leave   context.CancelFunc
	done    chan struct{}
	// pingMu orders the pings a session sends (its loop, and dispatchAlive
	// while a handler blocks); pings counts them, so that a pong can be
	// matched to its ping.
	pingMu sync.Mutex
	pings  int
}

// NewClient validates cfg and returns an idle Client; Start connects it.
func NewClient(cfg Config, logger watermill.LoggerAdapter) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.URL)
	c := &Client{
		cfg:       cfg,
		logger:    namedlog.New(logger, "source"),
		handlers:  map[int]registered{},
		connected: make(chan struct{}),
		done:      make(chan struct{}),
		header:    httpHeader(cfg.Headers),
	}
	c.provider = cfg.TokenProvider
	if c.provider == nil {
		c.provider = cfg.Token.provider()
	}
	// A token written into the URL is a static token: take it out so that the
	// URL can be logged and so that renewal can replace it.
	q := base.Query()
	if tok := q.Get(cfg.TokenParam); tok != "" {
		c.red.add(tok)
		if c.provider == nil {
			c.provider = TokenFunc(func(context.Context) (string, error) { return tok, nil })
		}
		q.Del(cfg.TokenParam)
		base.RawQuery = q.Encode()
	}
	c.red.add(cfg.Token.Static)
	c.base = base
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.leaving, c.leave = context.WithCancel(c.ctx)
	c.metrics.Store(newClientMetrics(nil, "", ""))
	return c, nil
}

// Name is the name of the source the client serves, given by Instrument
// (the router passes the pipeline's source name); "" until then.
func (c *Client) Name() string { return c.logger.Name() }

// errorf prefixes an error with "socketio" and the client's name, if any.
func (c *Client) errorf(format string, args ...any) error {
	if n := c.Name(); n != "" {
		return fmt.Errorf("socketio %s: "+format, append([]any{n}, args...)...)
	}
	return fmt.Errorf("socketio: "+format, args...)
}

// Watch registers w for every event and returns a function removing it.
// Watchers must not block: they run before the handlers, so a command's
// result reaches its waiter even while a source's handler applies
// backpressure.
func (c *Client) Watch(w func(Event)) (remove func()) {
	return c.register(func(_ context.Context, ev Event) { w(ev) }, true)
}

// OnEvent registers h for every event and returns a function removing it.
func (c *Client) OnEvent(h Handler) (remove func()) { return c.register(h, false) }

func (c *Client) register(h Handler, watcher bool) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextHandler
	c.nextHandler++
	c.handlers[id] = registered{h: h, watcher: watcher}
	return func() {
		c.mu.Lock()
		delete(c.handlers, id)
		c.mu.Unlock()
	}
}

type registered struct {
	h       Handler
	watcher bool
}

// Start begins connecting in the background; it is idempotent.
func (c *Client) Start() {
	c.startOnce.Do(func() { go c.run() })
}

// Close stops the client and waits for its connection to end. A connection
// is left cleanly, for up to CloseTimeout: every event the server sent
// before it saw the client leave is still read and handed to the handlers
// (a socket cannot send it again), also when the server accepted the
// connection but the handshake had not finished; a connection not yet
// dialed is not made.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.leave()
		bound := time.AfterFunc(c.cfg.CloseTimeout, c.cancel)
		c.startOnce.Do(func() { close(c.done) }) // never started
		<-c.done
		bound.Stop()
		c.cancel()
		c.setState(StateClosed)
	})
	return nil
}

// Status returns a snapshot of the connection state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// WaitConnected blocks until the client is connected or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch, state := c.connected, c.status.State
		c.mu.Unlock()
		if state == StateClosed {
			return ErrClosed
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrClosed
		case <-time.After(50 * time.Millisecond):
			// Re-read: the channel is replaced on every (dis)connect.
		}
	}
}

// Emit sends event name with arg on the live connection (in ModeJSON, arg
// alone as one JSON frame). It fails with ErrNotConnected while reconnecting.
func (c *Client) Emit(ctx context.Context, name string, arg any) error {
	var frame []byte
	if c.cfg.Mode == ModeJSON {
		b, err := json.Marshal(arg)
		if err != nil {
			return fmt.Errorf("socketio: encode %q: %w", name, err)
		}
		frame = b
	} else {
		p, err := wire.EventPacket(c.cfg.Namespace, name, arg)
		if err != nil {
			return err
		}
		frame = p.Frame()
	}
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return c.errorf("emit %q: %w", name, ErrNotConnected)
	}
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return c.redact(c.errorf("emit %q: %w", name, err))
	}
	return nil
}

// run is the reconnect loop.
func (c *Client) run() {
	defer close(c.done)
	attempt := 0
	for {
		c.setState(StateConnecting)
		established, err := c.connectOnce(c.ctx)
		if c.leaving.Err() != nil {
			if established && err != nil && !errors.Is(err, context.Canceled) {
				// Not the leave's own timeout (logged where it happens):
				// the connection failed while leaving, and what the server
				// sent that was not read yet is lost.
				c.logger.Error("Leaving the socket failed; events it sent meanwhile may be lost", c.redact(err), nil)
			}
			return
		}
		if established {
			attempt = 0
		}
		attempt++
		err = c.redact(err)
		kind := sentinel(err).kind
		c.metrics.Load().Error(kind)
		c.metrics.Load().reconnects.Inc()
		wait := c.cfg.Backoff.Delay(attempt)
		c.mu.Lock()
		c.status.Reconnects++
		c.status.LastError = err.Error()
		c.mu.Unlock()
		c.setState(StateReconnecting)
		c.logger.Error("Socket connection lost; reconnecting", err, watermill.LogFields{
			"kind": kind, "attempt": attempt, "wait": wait.String(), "url": c.LogURL(),
		})
		select {
		case <-c.leaving.Done():
			return
		case <-time.After(wait):
		}
	}
}

// connectOnce runs one connection to its end. established reports whether it
// got as far as a joined namespace (which resets the backoff).
func (c *Client) connectOnce(ctx context.Context) (established bool, err error) {
	token, err := c.currentToken(c.leaving, "connect")
	if err != nil {
		return false, err
	}
	if err := c.leaving.Err(); err != nil {
		return false, err // Close began before the dial: nothing was sent to us
	}
	u := c.dialURL(token)
	// Once dialing, a Close no longer abandons the connection: a server
	// that accepted it may emit at once (a Socket.IO server joins the client
	// to "/" before it reads a packet of the client's), so the session
	// finishes its handshake and leaves cleanly. c.ctx still bounds this:
	// Close cancels it after CloseTimeout.
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: c.header, HTTPClient: c.cfg.HTTPClient})
	cancel()
	if err != nil {
		if resp != nil && (resp.StatusCode == 401 || resp.StatusCode == 403) {
			c.markTokenStale()
			return false, fmt.Errorf("%w: %w: HTTP %d on the WebSocket handshake", ErrDial, ErrRefused, resp.StatusCode)
		}
		return false, fmt.Errorf("%w: %w", ErrDial, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(c.cfg.MaxFrameBytes)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	frames := make(chan frame)
	go readFrames(sctx, conn, frames)
	c.pingMu.Lock()
	c.pings = 0
	c.pingMu.Unlock()

	if c.cfg.Mode == ModeJSON {
		return c.jsonSession(sctx, conn, frames)
	}
	return c.sioSession(sctx, conn, frames)
}

type frame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// readFrames reads until an error, which it sends last. coder/websocket
// closes the connection when a Read's context ends, so the read runs on the
// session's context and deadlines are kept by the session loop.
func readFrames(ctx context.Context, conn *websocket.Conn, out chan<- frame) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				err = fmt.Errorf("%w: %w", ErrFrameTooLarge, err)
			} else if st := websocket.CloseStatus(err); st != -1 {
				err = fmt.Errorf("%w: WebSocket close %d: %w", ErrServerClosed, st, err)
			}
			select {
			case out <- frame{err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case out <- frame{typ: typ, data: data}:
		case <-ctx.Done():
			return
		}
	}
}

// connectedAs records a live connection.
func (c *Client) connectedAs(conn *websocket.Conn, sid string) {
	c.mu.Lock()
	c.conn = conn
	c.status.SessionID = sid
	c.status.Connects++
	close(c.connected)
	c.mu.Unlock()
	c.setState(StateConnected)
	c.metrics.Load().Up.Set(1)
	c.metrics.Load().LastSuccess.SetToCurrentTime()
	c.logger.Info("Socket connected", watermill.LogFields{"sid": sid, "url": c.LogURL(), "namespace": c.cfg.Namespace})
}

// disconnected forgets the live connection.
func (c *Client) disconnected() {
	c.mu.Lock()
	if c.conn != nil {
		c.conn = nil
		c.connected = make(chan struct{})
	}
	c.status.SessionID = ""
	c.mu.Unlock()
	c.metrics.Load().Up.Set(0)
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	c.status.State = s
	c.mu.Unlock()
	c.metrics.Load().state.Set(float64(s))
}

// dispatch hands ev to every handler.
func (c *Client) dispatch(ctx context.Context, ev Event) {
	c.metrics.Load().eventsReceived.Inc()
	c.metrics.Load().LastSuccess.SetToCurrentTime()
	c.mu.Lock()
	c.status.LastEventAt = ev.ReceivedAt
	hs := make([]Handler, 0, len(c.handlers))
	for _, r := range c.handlers {
		if r.watcher {
			hs = append([]Handler{r.h}, hs...)
		} else {
			hs = append(hs, r.h)
		}
	}
	c.mu.Unlock()
	for _, h := range hs {
		h(ctx, ev)
	}
}

// currentToken returns the cached token, fetching one when there is none or
// the server refused it.
func (c *Client) currentToken(ctx context.Context, reason string) (string, error) {
	if c.provider == nil {
		return "", nil
	}
	c.mu.Lock()
	tok, stale := c.token, c.tokenStale
	c.mu.Unlock()
	if tok != "" && !stale {
		return tok, nil
	}
	return c.fetchToken(ctx, reason)
}

func (c *Client) fetchToken(ctx context.Context, reason string) (string, error) {
	tok, err := c.provider.Token(ctx)
	if err == nil && tok == "" {
		err = errors.New("empty token")
	}
	if err != nil {
		return "", c.redact(fmt.Errorf("%w: %w", ErrToken, err))
	}
	c.metrics.Load().tokenRenewals.WithLabelValues(reason).Inc()
	c.mu.Lock()
	c.red.add(tok)
	c.token, c.tokenStale = tok, false
	c.mu.Unlock()
	return tok, nil
}

func (c *Client) markTokenStale() {
	c.mu.Lock()
	c.tokenStale = true
	c.mu.Unlock()
}

// renew answers the server's invalidToken: fetch a fresh token and emit
// renewedToken {token}. It runs off the connection goroutine (a provider may
// be slow) and only once at a time.
func (c *Client) renew(ctx context.Context, conn *websocket.Conn) {
	if c.provider == nil {
		c.logger.Error("Server says the token is invalid and no token provider is configured",
			fmt.Errorf("%w: the server sent %s, and there is no token provider to renew with", ErrToken, c.cfg.RenewEvent), nil)
		c.metrics.Load().Error("token")
		return
	}
	// The server sends invalidToken for each event while the token is
	// expired; those already on the wire when our renewedToken lands must not
	// trigger another fetch.
	if time.Since(time.Unix(0, c.renewedAt.Load())) < c.cfg.RenewMinInterval {
		return
	}
	if !c.renewing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.renewing.Store(false)
		tok, err := c.fetchToken(ctx, "invalid_token")
		if err != nil {
			c.markTokenStale()
			c.metrics.Load().Error("token")
			c.logger.Error("Token renewal failed; will retry on the next invalidToken or reconnect", err, nil)
			return
		}
		p, _ := wire.EventPacket(c.cfg.Namespace, c.cfg.RenewedEvent, map[string]string{"token": tok}) // a string map always encodes
		if err := conn.Write(ctx, websocket.MessageText, p.Frame()); err != nil {
			c.metrics.Load().Error("token")
			c.logger.Error("Sending the renewed token failed; the reconnect will use it", c.redact(err), nil)
			return
		}
		c.renewedAt.Store(time.Now().UnixNano())
		c.logger.Info("Token renewed", nil)
	}()
}

// dialURL builds the URL to dial with token; it must never be logged.
func (c *Client) dialURL(token string) string {
	u := *c.base
	q := u.Query()
	switch strings.ToLower(u.Scheme) {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	if c.cfg.Mode == ModeSocketIO {
		if u.Path == "" || u.Path == "/" {
			u.Path = c.cfg.Path
		}
		q.Set("EIO", "3")
		q.Set("transport", "websocket")
	}
	if token != "" {
		q.Set(c.cfg.TokenParam, token)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// LogURL is the server's URL as logs and the delivery log show it: the
// token and any user:password hidden.
func (c *Client) LogURL() string { return redactURL(c.base, c.cfg.TokenParam) }

func (c *Client) redact(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.red.error(err)
}
