// Package socketio is a source for a Socket.IO 2.x access-control event stream
// (Engine.IO protocol v3), or for a plain WebSocket that sends one JSON event
// per frame. The connection is socketio/client's Client (dial, keepalive,
// token renewal, reconnects, redaction); Config.Socket configures the one a
// Subscriber opens, or Config.Client shares an existing one (e.g. with a
// sinks/socketcommand sink).
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
