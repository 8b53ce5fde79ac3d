package client

import (
	"context"
	"errors"

	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/socketio/wire"
)

// Errors that end a connection; the client logs them, counts them by kind and
// reconnects.
var (
	// ErrNoOpen: the server did not send the Engine.IO open packet in time.
	ErrNoOpen = errors.New("no Engine.IO open packet")
	// ErrPongTimeout: the server did not answer a ping within pingTimeout.
	ErrPongTimeout = errors.New("no pong within pingTimeout")
	// ErrServerClosed: the server closed the connection or disconnected the namespace.
	ErrServerClosed = errors.New("server closed the connection")
	// ErrRefused: the server refused the handshake or the namespace.
	ErrRefused = errors.New("connection refused by server")
	// ErrFrameTooLarge: a frame exceeded MaxFrameBytes.
	ErrFrameTooLarge = errors.New("frame exceeds MaxFrameBytes")
	// ErrToken: the token provider failed.
	ErrToken = errors.New("token provider failed")
	// ErrDial: the WebSocket handshake failed.
	ErrDial = errors.New("dial failed")
	// ErrNotConnected: an emit found no live connection.
	ErrNotConnected = errors.New("not connected")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client closed")
)

type kind struct {
	err  error
	kind string // the metric label
}

var sentinels = []kind{
	{ErrNoOpen, "no_open"},
	{ErrPongTimeout, "pong_timeout"},
	{ErrServerClosed, "server_close"},
	{ErrRefused, "refused"},
	{ErrFrameTooLarge, "frame_too_large"},
	{websocket.ErrMessageTooBig, "frame_too_large"},
	{ErrToken, "token"},
	{ErrDial, "dial"},
	{wire.ErrBinary, "binary"},
	{wire.ErrUnknownType, "unknown_packet"},
	{wire.ErrMalformed, "malformed"},
	{wire.ErrEmpty, "malformed"},
	{context.DeadlineExceeded, "timeout"},
}

// sentinel returns the first sentinel in err's chain (for redacted errors)
// and its metric label, "read" for none.
func sentinel(err error) kind {
	for _, k := range sentinels {
		if errors.Is(err, k.err) {
			return k
		}
	}
	return kind{kind: "read"}
}
