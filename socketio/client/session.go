package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/socketio/wire"
)

// sioSession runs the Engine.IO v3 / Socket.IO 2.x handshake and then the
// connection until it fails: open packet, namespace connect, client pings
// every pingInterval and expects a pong within pingTimeout.
//
// A Close (c.leaving) during the handshake lets it finish and then leaves
// through leaveSIO, as from a live session, so that nothing the server
// already sent is dropped (see connectOnce); OpenTimeout and CloseTimeout
// (ctx) bound the wait.
func (c *Client) sioSession(ctx context.Context, conn *websocket.Conn, frames <-chan frame) (bool, error) {
	open, err := c.awaitOpen(ctx, frames)
	if err != nil {
		return false, err
	}
	if err := c.joinNamespace(ctx, conn, frames); err != nil {
		return false, err
	}
	c.connectedAs(conn, open.SID)
	defer c.disconnected()

	interval := time.Duration(open.PingInterval) * time.Millisecond
	timeout := time.Duration(open.PingTimeout) * time.Millisecond
	c.pingInterval, c.pingTimeout = interval, timeout
	nextPing := time.Now().Add(interval)
	var pongDue time.Time // zero while no ping is outstanding
	timer := time.NewTimer(interval)
	defer timer.Stop()
	wake := func() {
		next := nextPing
		if !pongDue.IsZero() {
			next = pongDue
		}
		timer.Reset(time.Until(next))
	}
	pongs := 0 // pongs received, each answering the ping of the same number

	for {
		select {
		case <-ctx.Done():
			closeConn(conn, websocket.StatusNormalClosure, "client closing")
			return true, ctx.Err()
		case <-c.leaving.Done():
			return true, c.leaveSIO(ctx, conn, frames, pongs)
		case <-timer.C:
			now := time.Now()
			if !pongDue.IsZero() {
				if now.Before(pongDue) {
					wake()
					continue
				}
				return true, fmt.Errorf("%w (%s)", ErrPongTimeout, timeout)
			}
			if now.Before(nextPing) {
				wake()
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, timeout)
			_, err := c.sendPing(wctx, conn)
			cancel()
			if err != nil {
				return true, fmt.Errorf("send ping: %w", err)
			}
			pongDue = now.Add(timeout)
			wake()
		case f := <-frames:
			if f.err != nil {
				return true, f.err
			}
			start := time.Now()
			pong, err := c.handleFrame(ctx, conn, f)
			if err != nil {
				closeConn(conn, websocket.StatusProtocolError, "protocol error")
				return true, err
			}
			if pong {
				pongs++
				pongDue = time.Time{}
				nextPing = time.Now().Add(interval)
			} else if !pongDue.IsZero() {
				// Time spent in handlers (backpressure from the pipeline) is
				// ours, not the server's: it does not count against pingTimeout.
				pongDue = pongDue.Add(time.Since(start))
			}
			wake()
		}
	}
}

// sendPing sends an Engine.IO ping and returns its number on this
// connection: the server answers pings in order, so the pong numbered n
// answers it.
func (c *Client) sendPing(ctx context.Context, conn *websocket.Conn) (int, error) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if err := conn.Write(ctx, websocket.MessageText, wire.AppendEIO(nil, wire.EIOPing, nil)); err != nil {
		return 0, err
	}
	c.pings++
	return c.pings, nil
}

// leaveSIO ends a live Socket.IO session cleanly: it sends the namespace's
// DISCONNECT, so that the server emits nothing more to this client, and
// then a ping. The server handles packets in order and answers on the same
// transport, so once the pong to that ping is read, every event it sent
// before it saw the DISCONNECT has been read and handed to the handlers
// (the handlers may block meanwhile: backpressure). It ends early when the
// server closes the transport, and at CloseTimeout (ctx ends), which is
// logged: events still on the wire are lost then.
func (c *Client) leaveSIO(ctx context.Context, conn *websocket.Conn, frames <-chan frame, pongs int) error {
	bye := wire.Packet{Type: wire.SIODisconnect, Namespace: c.cfg.Namespace, ID: wire.NoID}
	if err := conn.Write(ctx, websocket.MessageText, bye.Frame()); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	last, err := c.sendPing(ctx, conn)
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			c.logger.Error("Left the socket before the server confirmed; events it sent meanwhile are lost",
				fmt.Errorf("no answer within close_timeout (%s)", c.cfg.CloseTimeout), nil)
			return ctx.Err()
		case f := <-frames:
			if f.err != nil {
				return nil // the server closed the transport: nothing more can come
			}
			pong, err := c.handleFrame(ctx, conn, f)
			if err != nil {
				closeConn(conn, websocket.StatusNormalClosure, "client leaving")
				if errors.Is(err, ErrServerClosed) {
					return nil
				}
				return err
			}
			if pong {
				if pongs++; pongs >= last {
					closeConn(conn, websocket.StatusNormalClosure, "client leaving")
					return nil
				}
			}
		}
	}
}

// awaitOpen waits for the open packet.
func (c *Client) awaitOpen(ctx context.Context, frames <-chan frame) (wire.Open, error) {
	t := time.NewTimer(c.cfg.OpenTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return wire.Open{}, ctx.Err()
	case <-t.C:
		return wire.Open{}, fmt.Errorf("%w within %s", ErrNoOpen, c.cfg.OpenTimeout)
	case f := <-frames:
		if f.err != nil {
			return wire.Open{}, fmt.Errorf("%w: %w", ErrNoOpen, f.err)
		}
		if f.typ != websocket.MessageText {
			return wire.Open{}, fmt.Errorf("%w: first frame is binary: %w", ErrNoOpen, wire.ErrBinary)
		}
		p, err := wire.ParseEIO(f.data)
		if err != nil {
			return wire.Open{}, fmt.Errorf("%w: %w", ErrNoOpen, err)
		}
		if p.Type != wire.EIOOpen {
			return wire.Open{}, fmt.Errorf("%w: first packet is %s", ErrNoOpen, p.Type)
		}
		return wire.ParseOpen(p.Data)
	}
}

// joinNamespace waits for the server's CONNECT for the namespace (a 2.x
// server connects "/" unprompted; other namespaces are asked for with
// `40/nsp,`). An ERROR packet is a refusal, often of the token.
func (c *Client) joinNamespace(ctx context.Context, conn *websocket.Conn, frames <-chan frame) error {
	nsp := c.cfg.Namespace
	if nsp != "/" {
		p := wire.Packet{Type: wire.SIOConnect, Namespace: nsp, ID: wire.NoID}
		if err := conn.Write(ctx, websocket.MessageText, p.Frame()); err != nil {
			return fmt.Errorf("join namespace %s: %w", nsp, err)
		}
	}
	t := time.NewTimer(c.cfg.OpenTimeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("%w: no CONNECT for namespace %s within %s", ErrRefused, nsp, c.cfg.OpenTimeout)
		case f := <-frames:
			if f.err != nil {
				return f.err
			}
			if f.typ != websocket.MessageText {
				return fmt.Errorf("namespace %s: %w", nsp, wire.ErrBinary)
			}
			e, err := wire.ParseEIO(f.data)
			if err != nil {
				return err
			}
			switch e.Type {
			case wire.EIONoop, wire.EIOPong:
				continue
			case wire.EIOClose:
				return fmt.Errorf("%w: Engine.IO close during handshake", ErrServerClosed)
			case wire.EIOMessage:
			default:
				return fmt.Errorf("%w: unexpected %s packet during handshake", wire.ErrUnknownType, e.Type)
			}
			p, err := wire.ParsePacket(e.Data)
			if err != nil {
				return err
			}
			switch {
			case p.Type == wire.SIOConnect && p.Namespace == nsp:
				return nil
			case p.Type == wire.SIOConnect:
				continue // the default namespace, when we asked for another
			case p.Type == wire.SIOError:
				c.markTokenStale()
				return fmt.Errorf("%w: namespace %s: %q", ErrRefused, p.Namespace, p.ErrorMessage())
			case p.Type == wire.SIODisconnect:
				return fmt.Errorf("%w: namespace %s disconnected during handshake", ErrServerClosed, p.Namespace)
			case p.Type == wire.SIOEvent && p.Namespace == nsp:
				// Out of order (a server connects the namespace first), but
				// a socket cannot send it again: hand it on.
				if _, err := c.handleFrame(ctx, conn, f); err != nil {
					return err
				}
			}
		}
	}
}

// dispatchAlive dispatches ev, and while a handler blocks (the pipeline
// applying backpressure) keeps pinging every pingInterval from a timer, so
// that the server does not drop a connection we merely stopped reading.
func (c *Client) dispatchAlive(ctx context.Context, conn *websocket.Conn, ev Event) {
	interval := c.pingInterval
	if interval <= 0 {
		c.dispatch(ctx, ev)
		return
	}
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock() // t is read by the callback
	defer mu.Unlock()
	t = time.AfterFunc(interval, func() {
		// Bounded by pingTimeout, as the session loop's pings: coder/websocket
		// closes the connection when a write's context ends mid-write, and
		// with it whatever the server sent that was not read yet; a bound
		// as short as the interval was reached by a process merely paused
		// (a loaded machine), which lost events.
		wctx, cancel := context.WithTimeout(ctx, max(c.pingTimeout, interval))
		if _, err := c.sendPing(wctx, conn); err != nil && ctx.Err() == nil {
			c.logger.Error("Sending a ping while a handler blocked failed", c.redact(err), nil)
		}
		cancel()
		mu.Lock()
		if !stopped {
			t.Reset(interval)
		}
		mu.Unlock()
	})
	mu.Unlock()
	c.dispatch(ctx, ev)
	mu.Lock()
	stopped = true
	t.Stop()
}

// handleFrame processes one frame after the handshake. It reports whether
// the frame was a pong; an error ends the connection.
func (c *Client) handleFrame(ctx context.Context, conn *websocket.Conn, f frame) (pong bool, err error) {
	if f.typ != websocket.MessageText {
		return false, fmt.Errorf("binary frame of %d bytes refused: %w", len(f.data), wire.ErrBinary)
	}
	e, err := wire.ParseEIO(f.data)
	if err != nil {
		return false, err
	}
	switch e.Type {
	case wire.EIOPong:
		return true, nil
	case wire.EIOPing:
		// An EIO 4 habit; answering costs nothing and keeps such a server happy.
		return false, conn.Write(ctx, websocket.MessageText, wire.AppendEIO(nil, wire.EIOPong, e.Data))
	case wire.EIONoop:
		return false, nil
	case wire.EIOClose:
		return false, fmt.Errorf("%w: Engine.IO close packet", ErrServerClosed)
	case wire.EIOOpen, wire.EIOUpgrade:
		return false, fmt.Errorf("%w: unexpected %s packet after the handshake", wire.ErrUnknownType, e.Type)
	}
	p, err := wire.ParsePacket(e.Data)
	if err != nil {
		return false, err
	}
	if p.Namespace != c.cfg.Namespace {
		return false, nil // another namespace on the same socket; not ours
	}
	switch p.Type {
	case wire.SIOEvent:
		name, args, err := p.Event()
		if err != nil {
			return false, err
		}
		if name == c.cfg.RenewEvent {
			c.renew(ctx, conn)
			return false, nil
		}
		ev := Event{Name: name, Namespace: p.Namespace, Args: args, ReceivedAt: time.Now()}
		if len(args) > 0 {
			ev.Data = args[0]
		}
		c.dispatchAlive(ctx, conn, ev)
	case wire.SIODisconnect:
		return false, fmt.Errorf("%w: namespace %s disconnected by the server", ErrServerClosed, p.Namespace)
	case wire.SIOError:
		return false, fmt.Errorf("%w: server error packet: %q", ErrRefused, p.ErrorMessage())
	case wire.SIOConnect, wire.SIOAck:
		// A repeated CONNECT or an ack we never asked for: nothing to do.
	}
	return false, nil
}

// jsonSession reads one JSON event per text frame and keeps the connection
// alive with WebSocket pings.
func (c *Client) jsonSession(ctx context.Context, conn *websocket.Conn, frames <-chan frame) (bool, error) {
	c.connectedAs(conn, "")
	defer c.disconnected()
	pingErr := make(chan error, 1)
	var blocked atomic.Bool
	go func() {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				before := blocked.Load()
				pctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
				err := conn.Ping(pctx)
				cancel()
				// A pong is read by the frame reader; while a handler blocks
				// (backpressure) it cannot be, and that is not the peer's fault.
				if err != nil && ctx.Err() == nil && !before && !blocked.Load() {
					pingErr <- fmt.Errorf("%w (%s): %w", ErrPongTimeout, c.cfg.PingTimeout, err)
					return
				}
			}
		}
	}()
	// leaving: a WebSocket ping sent once Close began; its pong is read
	// after every frame the server sent before it (see leaveSIO).
	var left chan error
	leaving := c.leaving.Done()
	for {
		select {
		case <-ctx.Done():
			if left != nil {
				c.logger.Error("Left the socket before the server confirmed; events it sent meanwhile are lost",
					fmt.Errorf("no pong within close_timeout (%s)", c.cfg.CloseTimeout), nil)
			}
			closeConn(conn, websocket.StatusNormalClosure, "client closing")
			return true, ctx.Err()
		case <-leaving:
			leaving = nil
			left = make(chan error, 1)
			go func() { left <- conn.Ping(ctx) }()
		case err := <-left:
			closeConn(conn, websocket.StatusNormalClosure, "client leaving")
			return true, err
		case err := <-pingErr:
			return true, err
		case f := <-frames:
			if f.err != nil {
				if left != nil {
					return true, nil // the server closed: nothing more can come
				}
				return true, f.err
			}
			if f.typ != websocket.MessageText {
				closeConn(conn, websocket.StatusUnsupportedData, "binary frames refused")
				return true, fmt.Errorf("binary frame refused: %w", wire.ErrBinary)
			}
			ev, err := c.parseJSONFrame(f.data)
			if err != nil {
				closeConn(conn, websocket.StatusInvalidFramePayloadData, "malformed JSON event")
				return true, err
			}
			blocked.Store(true)
			c.dispatch(ctx, ev)
			blocked.Store(false)
		}
	}
}

func (c *Client) parseJSONFrame(data []byte) (Event, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return Event{}, fmt.Errorf("%w: JSON frame: %v", wire.ErrMalformed, err)
	}
	var name string
	if raw, ok := obj[c.cfg.TopicField]; ok {
		if err := json.Unmarshal(raw, &name); err != nil {
			return Event{}, fmt.Errorf("%w: JSON frame: %q is not a string", wire.ErrMalformed, c.cfg.TopicField)
		}
	}
	if name == "" {
		return Event{}, fmt.Errorf("%w: JSON frame has no %q", wire.ErrMalformed, c.cfg.TopicField)
	}
	d := json.RawMessage(data)
	return Event{Name: name, Namespace: "", Data: d, Args: []json.RawMessage{d}, ReceivedAt: time.Now()}, nil
}

// closeConn sends a close frame but does not wait long for the peer's: the
// frame reader may be parked on a frame the session will never take, and a
// full close handshake would then stall the reconnect for seconds.
func closeConn(conn *websocket.Conn, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		_ = conn.Close(code, reason)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(250 * time.Millisecond):
		_ = conn.CloseNow()
		<-done
	}
}
