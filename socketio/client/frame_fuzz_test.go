package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
