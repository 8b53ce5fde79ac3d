// Package socketio is a source for a Socket.IO 2.x access-control event
// stream (Engine.IO protocol v3), or for a plain WebSocket that sends one JSON event
// per frame (ModeJSON). Go has no maintained Socket.IO 2.x client, so Client
// implements the client side over github.com/coder/websocket, with the wire
// format in internal/socketio/wire.
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
// Subscriber turns events into messages: the payload is the event object as
// sent; MetaEventID is the event's "id" or else a hash of event name, body
// and "occurred" (EventID), so a re-sent event dedups in the pipeline.
//
// Limits: a socket cannot replay. Events wait in memory (MaxPending) until
// the pipeline acks them and nacked ones are redelivered from there, but
// events pending when the process dies, and events the server emitted while
// the client was disconnected, are lost; use the provider's webhooks or REST
// API where every event matters. ModeJSON has no token renewal message
// (a refused handshake still fetches a new token for the next dial).
package socketio
