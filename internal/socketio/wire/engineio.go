// Package wire encodes and decodes the two layers a Socket.IO 2.x server
// speaks over a WebSocket: Engine.IO protocol v3 packets (one per text frame)
// and the Socket.IO protocol v4 packets (socket.io-parser 3.x) carried inside
// Engine.IO message packets.
//
// The parsers are strict and never panic: anything a peer could send yields
// either a packet or an error that says what was wrong. Binary packets are
// recognised and refused with ErrBinary, since this client does not implement
// attachments.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Errors the parsers wrap, so callers can count them by kind.
var (
	// ErrEmpty is a frame or packet with no bytes at all.
	ErrEmpty = errors.New("empty packet")
	// ErrUnknownType is a packet type outside the protocol.
	ErrUnknownType = errors.New("unknown packet type")
	// ErrMalformed is a packet whose framing or JSON is broken.
	ErrMalformed = errors.New("malformed packet")
	// ErrBinary is a binary frame or a BINARY_EVENT / BINARY_ACK packet.
	ErrBinary = errors.New("binary packets are not supported")
)

// EIOType is an Engine.IO packet type, sent as one ASCII digit.
type EIOType byte

// Engine.IO v3 packet types. In v3 the client sends Ping and the server
// answers Pong (v4 reverses the direction).
const (
	EIOOpen EIOType = iota
	EIOClose
	EIOPing
	EIOPong
	EIOMessage
	EIOUpgrade
	EIONoop
)

var eioNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

func (t EIOType) String() string {
	if int(t) < len(eioNames) {
		return eioNames[t]
	}
	return fmt.Sprintf("EIOType(%d)", byte(t))
}

// EIOPacket is one Engine.IO packet.
type EIOPacket struct {
	Type EIOType
	Data []byte
}

// ParseEIO decodes an Engine.IO packet from a WebSocket text frame. Data
// aliases frame.
func ParseEIO(frame []byte) (EIOPacket, error) {
	if len(frame) == 0 {
		return EIOPacket{}, fmt.Errorf("engine.io: %w", ErrEmpty)
	}
	c := frame[0]
	if c < '0' || c > '6' {
		return EIOPacket{}, fmt.Errorf("engine.io: %w %q", ErrUnknownType, truncate(frame[:1]))
	}
	return EIOPacket{Type: EIOType(c - '0'), Data: frame[1:]}, nil
}

// AppendEIO appends the text encoding of an Engine.IO packet to dst.
func AppendEIO(dst []byte, t EIOType, data []byte) []byte {
	dst = append(dst, '0'+byte(t))
	return append(dst, data...)
}

// Open is the payload of the server's open packet: `0{"sid":…}`.
type Open struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds
}

// ParseOpen decodes and checks an open packet's payload.
func ParseOpen(data []byte) (Open, error) {
	var o Open
	if err := json.Unmarshal(data, &o); err != nil {
		return Open{}, fmt.Errorf("engine.io open: %w: %v", ErrMalformed, err)
	}
	if o.SID == "" {
		return Open{}, fmt.Errorf("engine.io open: %w: no sid", ErrMalformed)
	}
	if o.PingInterval <= 0 || o.PingTimeout <= 0 {
		return Open{}, fmt.Errorf("engine.io open: %w: pingInterval %d / pingTimeout %d must be positive",
			ErrMalformed, o.PingInterval, o.PingTimeout)
	}
	return o, nil
}

// truncate keeps error messages short when a peer sends a huge bad frame.
func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
