package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/coder/websocket"
)

// FuzzHandleFrame feeds arbitrary frames, text and binary, to the Socket.IO
// session's frame handler over a live loopback WebSocket (whose peer reads
// and drops what the client writes: pongs, renewed tokens): no panic, no
// event handed on from a frame that failed or is no event, and an event
// carries the frame's arguments. (An empty name, `42[""]`, is handed on as
// sent: Socket.IO allows it.)
func FuzzHandleFrame(f *testing.F) {
	for _, s := range []string{
		`42["door.opened",{"doorId":1}]`, `42/panel,["a",1,"b"]`, `42/panel,7["a"]`, `42[]`, `42[1]`, `42["x"`,
		`2`, `2probe`, `3`, `6`, `1`, `0{"sid":"x"}`, `5`, `40`, `40/panel,`, `41`, `41/panel,`,
		`43["ack"]`, `44"denied"`, `44{"message":"bad token"}`, `4`, `45-["b",{"_placeholder":true,"num":0}]`,
		`42["invalidToken"]`, `42["invalidToken",{}]`, "", "4\x00", `42["é",` + strings.Repeat("[", 200) + `]`,
	} {
		f.Add(true, []byte(s))
	}
	f.Add(false, []byte{4, 0x42})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for {
			if _, _, err := conn.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	f.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.CloseNow() })

	c, err := NewClient(Config{URL: srv.URL, Namespace: "/", RenewMinInterval: 1 << 62,
		TokenProvider: TokenFunc(func(context.Context) (string, error) { return "tok", nil })}, watermill.NopLogger{})
	if err != nil {
		f.Fatal(err)
	}
	var got []Event
	c.OnEvent(func(_ context.Context, ev Event) { got = append(got, ev) })

	f.Fuzz(func(t *testing.T, text bool, data []byte) {
		typ := websocket.MessageBinary
		if text {
			typ = websocket.MessageText
		}
		got = got[:0]
		_, err := c.handleFrame(ctx, conn, frame{typ: typ, data: data})
		if err != nil && len(got) > 0 {
			t.Fatalf("frame %q failed (%v) but handed on %d events", data, err, len(got))
		}
		if len(got) > 1 {
			t.Fatalf("frame %q handed on %d events", data, len(got))
		}
		for _, ev := range got {
			if ev.Name == c.cfg.RenewEvent {
				t.Fatalf("frame %q handed on event %q", data, ev.Name)
			}
			if !text || !strings.HasPrefix(string(data), "42") {
				t.Fatalf("frame %q (text %v) is no event but handed on %+v", data, text, ev)
			}
			if len(ev.Args) > 0 && string(ev.Data) != string(ev.Args[0]) {
				t.Fatalf("event data %q is not its first argument %q", ev.Data, ev.Args[0])
			}
			for _, a := range ev.Args {
				if !json.Valid(a) {
					t.Fatalf("frame %q: argument %q is not JSON", data, a)
				}
			}
		}
	})
}

// FuzzHandshake feeds arbitrary frame sequences (split at NUL bytes) to the
// Engine.IO open and namespace handshake: no panic and no hang (the last
// frame is a read error), and a handshake accepted has seen an open packet
// and a CONNECT.
func FuzzHandshake(f *testing.F) {
	for _, s := range []string{
		"0{\"sid\":\"a\",\"pingInterval\":25000,\"pingTimeout\":5000}\x0040",
		"0{\"sid\":\"a\"}\x003\x006\x0042[\"early\"]\x0040",
		"0{\"sid\":\"a\"}\x0044\"Authentication error\"", "0{\"sid\":\"a\"}\x0041", "0{\"sid\":\"a\"}\x001",
		"0{}\x0040/other,\x0040", "0null", "0{\"pingInterval\":-1}\x0040", "4", "2probe", "",
	} {
		f.Add([]byte(s))
	}
	c, err := NewClient(Config{URL: "ws://127.0.0.1:1", OpenTimeout: time.Minute}, watermill.NopLogger{})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := bytes.Split(data, []byte{0})
		frames := make(chan frame, len(parts)+1)
		for _, p := range parts {
			frames <- frame{typ: websocket.MessageText, data: p}
		}
		frames <- frame{err: errors.New("end of input")}
		if _, err := c.awaitOpen(ctx, frames); err != nil {
			return
		}
		if err := c.joinNamespace(ctx, nil, frames); err == nil && !bytes.Contains(data, []byte("40")) {
			t.Fatalf("handshake %q accepted without a CONNECT", data)
		}
	})
}
