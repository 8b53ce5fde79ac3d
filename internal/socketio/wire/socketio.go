package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// SIOType is a Socket.IO packet type.
type SIOType byte

// Socket.IO protocol v4 (socket.io 2.x) packet types.
const (
	SIOConnect SIOType = iota
	SIODisconnect
	SIOEvent
	SIOAck
	SIOError
	SIOBinaryEvent
	SIOBinaryAck
)

var sioNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "ERROR", "BINARY_EVENT", "BINARY_ACK"}

func (t SIOType) String() string {
	if int(t) < len(sioNames) {
		return sioNames[t]
	}
	return fmt.Sprintf("SIOType(%d)", byte(t))
}

// NoID marks a packet without an ack id.
const NoID int64 = -1

// maxID bounds ack ids so that parsing cannot overflow.
const maxID = 1<<53 - 1

// Packet is one Socket.IO packet: `<type>[<nsp>,][<id>][JSON]` (the binary
// types' `<attachments>-` is refused, not modelled).
type Packet struct {
	Type SIOType
	// Namespace is "/" for the default namespace.
	Namespace string
	// ID is the ack id, or NoID.
	ID int64
	// Data is the JSON payload, nil when absent.
	Data json.RawMessage
}

// ParsePacket decodes a Socket.IO packet (the data of an Engine.IO message).
// A binary packet is returned with ErrBinary so the caller can say what it
// refused.
func ParsePacket(b []byte) (Packet, error) {
	p := Packet{Namespace: "/", ID: NoID}
	if len(b) == 0 {
		return p, fmt.Errorf("socket.io: %w", ErrEmpty)
	}
	if b[0] < '0' || b[0] > '6' {
		return p, fmt.Errorf("socket.io: %w %q", ErrUnknownType, truncate(b[:1]))
	}
	p.Type = SIOType(b[0] - '0')
	if p.Type == SIOBinaryEvent || p.Type == SIOBinaryAck {
		return p, fmt.Errorf("socket.io: %s packet refused: %w", p.Type, ErrBinary)
	}
	b = b[1:]
	if len(b) > 0 && b[0] == '/' {
		nsp, rest, _ := bytes.Cut(b, []byte{','})
		p.Namespace, b = string(nsp), rest
	}
	if n := digits(b); n > 0 {
		id, err := strconv.ParseInt(string(b[:n]), 10, 64)
		if err != nil || id > maxID {
			return p, fmt.Errorf("socket.io: %w: ack id %q out of range", ErrMalformed, truncate(b[:n]))
		}
		p.ID, b = id, b[n:]
	}
	if len(b) > 0 {
		if !json.Valid(b) {
			return p, fmt.Errorf("socket.io: %w: %s payload is not valid JSON: %q", ErrMalformed, p.Type, truncate(b))
		}
		p.Data = json.RawMessage(b)
	}
	switch p.Type {
	case SIOEvent, SIOAck:
		if p.Data == nil || p.Data[0] != '[' {
			return p, fmt.Errorf("socket.io: %w: %s payload must be a JSON array", ErrMalformed, p.Type)
		}
	}
	return p, nil
}

// Append appends the encoding of p (without the Engine.IO type) to dst.
func (p Packet) Append(dst []byte) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// Frame returns the WebSocket text frame carrying p: `4` + packet.
func (p Packet) Frame() []byte {
	return p.Append([]byte{'0' + byte(EIOMessage)})
}

// Event splits an EVENT packet's payload into its name and arguments.
func (p Packet) Event() (name string, args []json.RawMessage, err error) {
	if p.Type != SIOEvent {
		return "", nil, fmt.Errorf("socket.io: %s packet is not an event", p.Type)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(p.Data, &all); err != nil {
		return "", nil, fmt.Errorf("socket.io: %w: event payload: %v", ErrMalformed, err)
	}
	if len(all) == 0 {
		return "", nil, fmt.Errorf("socket.io: %w: event without a name", ErrMalformed)
	}
	if err := json.Unmarshal(all[0], &name); err != nil {
		return "", nil, fmt.Errorf("socket.io: %w: event name is not a string: %q", ErrMalformed, truncate(all[0]))
	}
	return name, all[1:], nil
}

// ErrorMessage returns the message of an ERROR packet (`44"Not authorized"`
// or `44{"message":…}`), or its raw payload.
func (p Packet) ErrorMessage() string {
	var s string
	if json.Unmarshal(p.Data, &s) == nil {
		return s
	}
	var o struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(p.Data, &o) == nil && o.Message != "" {
		return o.Message
	}
	return truncate(p.Data)
}

// EventPacket builds an EVENT packet for namespace nsp.
func EventPacket(nsp, name string, args ...any) (Packet, error) {
	data, err := json.Marshal(append([]any{name}, args...))
	if err != nil {
		return Packet{}, fmt.Errorf("socket.io: encode event %q: %w", name, err)
	}
	return Packet{Type: SIOEvent, Namespace: nsp, ID: NoID, Data: data}, nil
}

// digits is the length of the run of ASCII digits b starts with.
func digits(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}
