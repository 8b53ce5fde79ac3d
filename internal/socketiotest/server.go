// Package socketiotest is a Socket.IO 2.x (Engine.IO v3) server over
// coder/websocket, speaking an access-control stream's protocol: it sends the open
// packet, answers pings, connects namespaces, broadcasts events, holds events
// back behind `invalidToken` while a client's token is expired and replays
// them on `renewedToken`, and answers `command` with `command.result.succeed`
// or `serverError`. Knobs inject the failures a client must survive.
//
// It is an importable package, not a _test file, so that the reference
// binary's simulator can serve realistic door events with it.
package socketiotest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/socketio/wire"
)

// Config configures a Server.
type Config struct {
	// PingInterval and PingTimeout are announced in the open packet; 25 s and 5 s when zero.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// Token, when set, is the only token accepted at the handshake (query
	// parameter "token"); change it later with RotateToken.
	Token string
	// OnCommand handles a client's `command`; DefaultCommands when nil. An
	// error is answered with serverError {message}, ErrNoAnswer with
	// nothing at all; otherwise the server emits command.result.succeed and
	// then the returned events.
	OnCommand func(Command) ([]Event, error)
}

// ErrNoAnswer, returned by Config.OnCommand, leaves the command unanswered:
// a panel that ran it (or not) and whose result was lost.
var ErrNoAnswer = errors.New("socketiotest: no answer")

// Command is a client's `command` event.
type Command struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Body  json.RawMessage `json:"body"`
}

// Event is an event for the server to emit.
type Event struct {
	Name string
	Data any
}

// Server is the test server; it is an http.Handler (mount it at /socket.io/).
type Server struct {
	cfg Config

	mu       sync.Mutex
	sessions map[*session]struct{}
	token    string
	commands []Command
	dials    []string // tokens presented at handshakes

	ignorePings       atomic.Bool
	silentOpen        atomic.Bool
	pings             atomic.Int64
	heartbeatTimeouts atomic.Int64
	sid               atomic.Int64
	connected         chan struct{} // signalled on every namespace connect
}

type session struct {
	conn    *websocket.Conn
	sid     string
	token   string
	nsps    map[string]bool
	held    [][]byte // frames held back while the token is expired
	mu      sync.Mutex
	writeMu sync.Mutex
	// order makes an Emit (the namespace check and the write) one step
	// against the client's DISCONNECT and the pong to its next ping, as in
	// a single-threaded socket.io server: an event is either written before
	// that pong or not sent at all.
	order    sync.Mutex
	cancel   context.CancelFunc
	lastPing atomic.Int64 // unix nanos of the last ping (or of the connect)
}

// New returns a Server.
func New(cfg Config) *Server {
	cfg.PingInterval = cmp.Or(cfg.PingInterval, 25*time.Second)
	cfg.PingTimeout = cmp.Or(cfg.PingTimeout, 5*time.Second)
	if cfg.OnCommand == nil {
		cfg.OnCommand = DefaultCommands
	}
	return &Server{cfg: cfg, sessions: map[*session]struct{}{}, token: cfg.Token, connected: make(chan struct{}, 1)}
}

// ServeHTTP upgrades /socket.io/?EIO=3&transport=websocket requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "3" || q.Get("transport") != "websocket" {
		http.Error(w, `{"code":0,"message":"Transport unknown"}`, http.StatusBadRequest)
		return
	}
	tok := q.Get("token")
	s.mu.Lock()
	s.dials = append(s.dials, tok)
	want := s.token
	s.mu.Unlock()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sess := &session{conn: conn, sid: "sid" + strconv.FormatInt(s.sid.Add(1), 10), token: tok, nsps: map[string]bool{}, cancel: cancel}
	sess.lastPing.Store(time.Now().UnixNano())
	defer conn.CloseNow()

	if s.silentOpen.Load() {
		<-ctx.Done()
		return
	}
	open, _ := json.Marshal(wire.Open{SID: sess.sid, Upgrades: []string{},
		PingInterval: s.cfg.PingInterval.Milliseconds(), PingTimeout: s.cfg.PingTimeout.Milliseconds()})
	if sess.write(ctx, wire.AppendEIO(nil, wire.EIOOpen, open)) != nil {
		return
	}
	if want != "" && tok != want {
		// What a v2 server's io.use() middleware sends on refusal.
		_ = sess.write(ctx, wire.Packet{Type: wire.SIOError, Namespace: "/", ID: wire.NoID, Data: json.RawMessage(`"Authentication error: invalid token"`)}.Frame())
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	s.join(ctx, sess, "/")
	go s.heartbeat(ctx, sess)
	s.readLoop(ctx, sess)
}

func (s *Server) join(ctx context.Context, sess *session, nsp string) {
	// One step against Emit, as in socket.io: the CONNECT is written before
	// any event of the namespace (an Emit between the two wrote events the
	// client's handshake had not asked for yet).
	sess.order.Lock()
	sess.mu.Lock()
	sess.nsps[nsp] = true
	sess.mu.Unlock()
	_ = sess.write(ctx, wire.Packet{Type: wire.SIOConnect, Namespace: nsp, ID: wire.NoID}.Frame())
	sess.order.Unlock()
	select {
	case s.connected <- struct{}{}:
	default:
	}
}

// heartbeat closes a connection whose client has not pinged within
// pingInterval + pingTimeout, as an Engine.IO v3 server does.
func (s *Server) heartbeat(ctx context.Context, sess *session) {
	limit := s.cfg.PingInterval + s.cfg.PingTimeout
	t := time.NewTicker(limit / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, sess.lastPing.Load())) > limit {
				s.heartbeatTimeouts.Add(1)
				_ = sess.conn.CloseNow()
				return
			}
		}
	}
}

// HeartbeatTimeouts is how many connections were closed for want of pings.
func (s *Server) HeartbeatTimeouts() int64 { return s.heartbeatTimeouts.Load() }

func (s *Server) readLoop(ctx context.Context, sess *session) {
	for {
		typ, data, err := sess.conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			_ = sess.conn.Close(websocket.StatusUnsupportedData, "binary refused")
			return
		}
		e, err := wire.ParseEIO(data)
		if err != nil {
			_ = sess.conn.Close(websocket.StatusProtocolError, err.Error())
			return
		}
		switch e.Type {
		case wire.EIOPing:
			s.pings.Add(1)
			sess.lastPing.Store(time.Now().UnixNano())
			if !s.ignorePings.Load() {
				sess.order.Lock()
				_ = sess.write(ctx, wire.AppendEIO(nil, wire.EIOPong, e.Data))
				sess.order.Unlock()
			}
		case wire.EIOClose:
			return
		case wire.EIOMessage:
			p, err := wire.ParsePacket(e.Data)
			if err != nil {
				_ = sess.conn.Close(websocket.StatusProtocolError, err.Error())
				return
			}
			s.handlePacket(ctx, sess, p)
		}
	}
}

func (s *Server) handlePacket(ctx context.Context, sess *session, p wire.Packet) {
	switch p.Type {
	case wire.SIOConnect:
		s.join(ctx, sess, p.Namespace)
	case wire.SIODisconnect:
		sess.order.Lock()
		sess.mu.Lock()
		delete(sess.nsps, p.Namespace)
		sess.mu.Unlock()
		sess.order.Unlock()
	case wire.SIOEvent:
		name, args, err := p.Event()
		if err != nil || len(args) == 0 {
			return
		}
		switch name {
		case "renewedToken":
			var body struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(args[0], &body)
			s.renewed(ctx, sess, body.Token)
		case "command":
			var cmd Command
			if err := json.Unmarshal(args[0], &cmd); err != nil {
				s.emitTo(ctx, sess, p.Namespace, "serverError", map[string]string{"message": "Invalid command."})
				return
			}
			s.mu.Lock()
			s.commands = append(s.commands, cmd)
			s.mu.Unlock()
			evs, err := s.cfg.OnCommand(cmd)
			if errors.Is(err, ErrNoAnswer) {
				return
			}
			if err != nil {
				s.emitTo(ctx, sess, p.Namespace, "serverError", map[string]string{"message": err.Error()})
				return
			}
			s.emitTo(ctx, sess, p.Namespace, "command.result.succeed", CommandSucceeded(cmd.ID, time.Now()))
			for _, ev := range evs {
				s.emitTo(ctx, sess, p.Namespace, ev.Name, ev.Data)
			}
		}
	}
}

// renewed accepts a renewed token and replays what was held back.
func (s *Server) renewed(ctx context.Context, sess *session, tok string) {
	s.mu.Lock()
	valid := s.token == "" || tok == s.token
	s.mu.Unlock()
	if !valid {
		s.emitTo(ctx, sess, "/", "invalidToken", map[string]string{"message": "Token is invalid."})
		return
	}
	sess.mu.Lock()
	sess.token = tok
	held := sess.held
	sess.held = nil
	sess.mu.Unlock()
	for _, frame := range held {
		_ = sess.write(ctx, frame)
	}
}

func (sess *session) write(ctx context.Context, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return sess.conn.Write(ctx, websocket.MessageText, frame)
}

// emitTo sends an event to one session, or holds it behind invalidToken
// while that session's token is not the server's current one. It reports
// whether the event was written (not held).
func (s *Server) emitTo(ctx context.Context, sess *session, nsp, name string, data any) bool {
	p, err := wire.EventPacket(nsp, name, data)
	if err != nil {
		return false
	}
	s.mu.Lock()
	want := s.token
	s.mu.Unlock()
	sess.mu.Lock()
	if want != "" && sess.token != want {
		sess.held = append(sess.held, p.Frame())
		sess.mu.Unlock()
		inv, _ := wire.EventPacket(nsp, "invalidToken", map[string]string{"message": "Token has expired."})
		_ = sess.write(ctx, inv.Frame())
		return false
	}
	sess.mu.Unlock()
	return sess.write(ctx, p.Frame()) == nil
}

func (s *Server) snapshot() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.sessions))
}

// Emit sends an event to every client joined to namespace nsp ("/" when
// empty) and returns to how many it was written (not held back behind an
// expired token): a client that left the namespace (a clean stop's
// DISCONNECT) gets nothing more.
func (s *Server) Emit(nsp, name string, data any) (sent int) {
	nsp = cmp.Or(nsp, "/")
	for _, sess := range s.snapshot() {
		sess.order.Lock()
		sess.mu.Lock()
		in := sess.nsps[nsp]
		sess.mu.Unlock()
		if in && s.emitTo(context.Background(), sess, nsp, name, data) {
			sent++
		}
		sess.order.Unlock()
	}
	return sent
}

// EmitRaw writes a raw text frame to every client (for malformed input).
func (s *Server) EmitRaw(frame []byte) {
	for _, sess := range s.snapshot() {
		_ = sess.write(context.Background(), frame)
	}
}

// EmitBinary writes a binary frame to every client.
func (s *Server) EmitBinary(frame []byte) {
	for _, sess := range s.snapshot() {
		_ = sess.conn.Write(context.Background(), websocket.MessageBinary, frame)
	}
}

// RotateToken makes tok the only valid token. Live clients keep their
// connection, but their events are held behind invalidToken until they send
// renewedToken {token: tok}.
func (s *Server) RotateToken(tok string) {
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
}

// CloseServerSide ends every connection with a WebSocket close (as a server
// restart would).
func (s *Server) CloseServerSide() {
	for _, sess := range s.snapshot() {
		_ = sess.conn.Close(websocket.StatusGoingAway, "server restarting")
	}
}

// Drop cuts every connection without a close handshake.
func (s *Server) Drop() {
	for _, sess := range s.snapshot() {
		_ = sess.conn.CloseNow()
	}
}

// IgnorePings makes the server stop answering pings (a half-dead peer).
func (s *Server) IgnorePings(v bool) { s.ignorePings.Store(v) }

// SilentOpen makes the server accept WebSockets but never send the open packet.
func (s *Server) SilentOpen(v bool) { s.silentOpen.Store(v) }

// Pings is how many pings the server has received.
func (s *Server) Pings() int64 { return s.pings.Load() }

// Clients is the number of clients connected.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// WaitClients waits until n clients have joined namespace nsp.
func (s *Server) WaitClients(ctx context.Context, nsp string, n int) error {
	for {
		joined := 0
		for _, sess := range s.snapshot() {
			sess.mu.Lock()
			if sess.nsps[nsp] {
				joined++
			}
			sess.mu.Unlock()
		}
		if joined >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("socketiotest: %d of %d clients joined %s: %w", joined, n, nsp, ctx.Err())
		case <-s.connected:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Commands returns the commands received so far.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands...)
}

// DialTokens returns the tokens presented at each handshake, in order.
func (s *Server) DialTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.dials...)
}

// ErrUnsupported is DefaultCommands' answer to an unknown command topic.
var ErrUnsupported = errors.New("Command is not supported.")

// CommandSucceeded is the command.result.succeed event for command id.
func CommandSucceeded(id string, at time.Time) map[string]any {
	return map[string]any{
		"id":       uuid.NewString(),
		"topic":    "command.result.succeed",
		"body":     map[string]any{"commandId": id},
		"occurred": stamp(at),
		"metadata": map[string]any{"occurred": at.UnixMilli()},
	}
}
