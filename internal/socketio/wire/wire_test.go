package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseEIO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		typ     EIOType
		data    string
		wantErr error
	}{
		{in: `0{"sid":"a"}`, typ: EIOOpen, data: `{"sid":"a"}`},
		{in: "1", typ: EIOClose},
		{in: "2", typ: EIOPing},
		{in: "3probe", typ: EIOPong, data: "probe"},
		{in: `42["x"]`, typ: EIOMessage, data: `2["x"]`},
		{in: "6", typ: EIONoop},
		{in: "", wantErr: ErrEmpty},
		{in: "7", wantErr: ErrUnknownType},
		{in: "x", wantErr: ErrUnknownType},
	}
	for _, tt := range tests {
		p, err := ParseEIO([]byte(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseEIO(%q) err = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || p.Type != tt.typ || string(p.Data) != tt.data {
			t.Errorf("ParseEIO(%q) = %v %q, %v; want %v %q", tt.in, p.Type, p.Data, err, tt.typ, tt.data)
		}
		if got := AppendEIO(nil, p.Type, p.Data); string(got) != tt.in {
			t.Errorf("AppendEIO = %q, want %q", got, tt.in)
		}
	}
}

func TestParseOpen(t *testing.T) {
	t.Parallel()
	o, err := ParseOpen([]byte(`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":5000}`))
	if err != nil || o.SID != "abc" || o.PingInterval != 25000 || o.PingTimeout != 5000 {
		t.Fatalf("ParseOpen = %+v, %v", o, err)
	}
	for _, bad := range []string{`{`, `{"sid":""}`, `{"sid":"a","pingInterval":0,"pingTimeout":5}`, `[]`, `{"sid":"a","pingInterval":-1,"pingTimeout":5}`} {
		if _, err := ParseOpen([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOpen(%s) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParsePacket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Packet
		wantErr error
		// encoded is the canonical re-encoding when it differs from in.
		encoded string
	}{
		{in: "0", want: Packet{Type: SIOConnect, Namespace: "/", ID: NoID}},
		{in: "0/admin,", want: Packet{Type: SIOConnect, Namespace: "/admin", ID: NoID}},
		{in: "0/admin", want: Packet{Type: SIOConnect, Namespace: "/admin", ID: NoID}, encoded: "0/admin,"},
		{in: "1", want: Packet{Type: SIODisconnect, Namespace: "/", ID: NoID}},
		{in: `2["door.request.allowed",{"id":"x"}]`, want: Packet{Type: SIOEvent, Namespace: "/", ID: NoID, Data: []byte(`["door.request.allowed",{"id":"x"}]`)}},
		{in: `2/admin,7["a",1]`, want: Packet{Type: SIOEvent, Namespace: "/admin", ID: 7, Data: []byte(`["a",1]`)}},
		{in: `312["ok"]`, want: Packet{Type: SIOAck, Namespace: "/", ID: 12, Data: []byte(`["ok"]`)}},
		{in: `3/admin,7[]`, want: Packet{Type: SIOAck, Namespace: "/admin", ID: 7, Data: []byte(`[]`)}},
		{in: `4"Not authorized"`, want: Packet{Type: SIOError, Namespace: "/", ID: NoID, Data: []byte(`"Not authorized"`)}},
		{in: `4/admin,"Not authorized"`, want: Packet{Type: SIOError, Namespace: "/admin", ID: NoID, Data: []byte(`"Not authorized"`)}},
		{in: "", wantErr: ErrEmpty},
		{in: "9", wantErr: ErrUnknownType},
		{in: `51-["a",{"_placeholder":true,"num":0}]`, wantErr: ErrBinary},
		{in: `61-[]`, wantErr: ErrBinary},
		{in: `2["a",`, wantErr: ErrMalformed},
		{in: `2{"a":1}`, wantErr: ErrMalformed},
		{in: `2`, wantErr: ErrMalformed},
		{in: `299999999999999999999["a"]`, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		p, err := ParsePacket([]byte(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParsePacket(%q) err = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePacket(%q): %v", tt.in, err)
			continue
		}
		if p.Type != tt.want.Type || p.Namespace != tt.want.Namespace || p.ID != tt.want.ID || !bytes.Equal(p.Data, tt.want.Data) {
			t.Errorf("ParsePacket(%q) = %+v, want %+v", tt.in, p, tt.want)
		}
		want := tt.in
		if tt.encoded != "" {
			want = tt.encoded
		}
		if got := string(p.Append(nil)); got != want {
			t.Errorf("Append = %q, want %q", got, want)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	p, err := EventPacket("/", "command", map[string]any{"id": "1", "topic": "door.try.open", "body": map[string]int{"doorId": 1}})
	if err != nil {
		t.Fatal(err)
	}
	frame := p.Frame()
	if !bytes.HasPrefix(frame, []byte(`42["command",{`)) {
		t.Fatalf("frame = %s", frame)
	}
	eio, err := ParseEIO(frame)
	if err != nil || eio.Type != EIOMessage {
		t.Fatalf("ParseEIO: %v %v", eio.Type, err)
	}
	q, err := ParsePacket(eio.Data)
	if err != nil {
		t.Fatal(err)
	}
	name, args, err := q.Event()
	if err != nil || name != "command" || len(args) != 1 {
		t.Fatalf("Event() = %q %d %v", name, len(args), err)
	}
	for _, bad := range []string{`2[]`, `2[1]`, `2[{"a":1}]`} {
		q, err := ParsePacket([]byte(bad))
		if err != nil {
			t.Fatalf("ParsePacket(%s): %v", bad, err)
		}
		if _, _, err := q.Event(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Event(%s) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`4"Not authorized"`:            "Not authorized",
		`4{"message":"invalid token"}`: "invalid token",
		`4{"other":1}`:                 `{"other":1}`,
	} {
		p, err := ParsePacket([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ErrorMessage(); got != want {
			t.Errorf("ErrorMessage(%s) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse feeds arbitrary frames through both layers: parsing must never
// panic, and whatever parses must re-encode to something that parses to the
// same packet.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":5000}`, "2", "3", "3probe", "6", "1",
		"40", "40/admin,", "41", `42["door.request.allowed",{"id":"x","body":{"doorId":1}}]`,
		`42/admin,7["a",1]`, `43/admin,7[]`, `44"Not authorized"`, `451-["a",{"_placeholder":true,"num":0}]`,
		`42["a",`, "4", "49", "", "x", `42/a`, `420["a"]`, `42/,["a"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		eio, err := ParseEIO(frame)
		if err != nil {
			return
		}
		if got := AppendEIO(nil, eio.Type, eio.Data); !bytes.Equal(got, frame) {
			t.Fatalf("engine.io round trip %q -> %q", frame, got)
		}
		switch eio.Type {
		case EIOOpen:
			_, _ = ParseOpen(eio.Data)
		case EIOMessage:
			p, err := ParsePacket(eio.Data)
			if err != nil {
				return
			}
			q, err := ParsePacket(p.Append(nil))
			if err != nil {
				t.Fatalf("re-encoded %q (from %q) does not parse: %v", p.Append(nil), eio.Data, err)
			}
			if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("round trip %+v -> %+v", p, q)
			}
			if p.Type == SIOEvent {
				_, _, _ = p.Event()
			}
			_ = p.ErrorMessage()
		}
	})
}
