// Package client is a Socket.IO 2.x client (Engine.IO protocol v3), or a
// client for a plain WebSocket that sends one JSON event per frame
// (ModeJSON). Go has no maintained Socket.IO 2.x client, so Client
// implements the client side over github.com/coder/websocket, with the wire
// format in internal/socketio/wire. It is its own package because a source
// (sources/socketio) and a sink (sinks/socketcommand) share one connection,
// and neither imports the other; a user's own socket source or sink builds
// on it the same way.
//
// Client keeps one connection alive: it dials
// /socket.io/?EIO=3&transport=websocket plus the token query, waits for the
// open packet (pingInterval, pingTimeout), joins its namespace, pings every
// pingInterval (in EIO 3 the client pings and the server pongs) and treats a
// pong missing for pingTimeout as a dead connection. On `invalidToken` it
// fetches a token from its TokenProvider (a Go callback, or in TokenConfig a
// static token, a command or an HTTP endpoint) and emits `renewedToken
// {token}`; the server then replays what it held back. A handshake refused
// with HTTP 401/403 or a Socket.IO ERROR packet also fetches a fresh token
// before the next dial. Any failure (drop, server close, missed pong,
// unknown packet type, malformed JSON, binary packet, oversized frame, no
// open packet) is logged, counted in tributary_source_errors_total{kind},
// and followed by a reconnect after exponential backoff with jitter.
// Status() and tributary_socketio_connection_state show where it stands.
//
// Tokens ride in the dial URL, so every error the client logs or returns is
// scrubbed of every token it has used, and URLs are logged with the token
// parameter replaced; metrics carry no URL.
//
//	c, err := client.NewClient(client.Config{Name: "panel", URL: "wss://panel.example/"}, logger)
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	remove := c.OnEvent(func(ctx context.Context, ev client.Event) { /* ev.Name, ev.Data */ })
//	defer remove()
//	c.Start()
package client
