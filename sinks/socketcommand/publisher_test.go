package socketcommand_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

func startServer(t *testing.T, cfg socketiotest.Config) (*socketiotest.Server, string) {
	t.Helper()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, time.Second
	srv := socketiotest.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Drop(); hs.Close() })
	return srv, hs.URL
}

func newPublisher(t *testing.T, url string, timeout time.Duration) *socketcommand.Publisher {
	t.Helper()
	p, err := socketcommand.NewPublisher(socketcommand.Config{
		Socket:  client.Config{Name: "cmd-" + uuid.NewString()[:8], URL: url, Backoff: client.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}},
		Timeout: timeout,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func commandMsg(topic, body string) *message.Message {
	return message.NewMessage(uuid.NewString(), []byte(`{"topic":"`+topic+`","body":`+body+`}`))
}

func TestEverySeedCommandIsConfirmed(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	p := newPublisher(t, url, 5*time.Second)
	bodies := map[string]string{
		"door.actuate.close":       `{"doorId":1}`,
		"door.actuate.dnd":         `{"doorId":1}`,
		"door.actuate.forcetoggle": `{"doorId":1}`,
		"door.actuate.open":        `{"doorId":1}`,
		"door.alarm.forced.clear":  `{"doorId":1}`,
		"door.try.dwellopen":       `{"doorId":6,"dwell":30}`,
		"door.try.open":            `{"doorId":1}`,
		"endpoint.discover":        `{}`,
		"endpoint.querysignal":     `{"ioLinkId":1,"address":"0013a200400a393b","actuateRelay":false,"relayDwell":5}`,
	}
	if len(bodies) != len(socketcommand.Topics) {
		t.Fatalf("test covers %d commands, the seed has %d", len(bodies), len(socketcommand.Topics))
	}
	ids := map[string]bool{}
	for _, topic := range socketcommand.Topics {
		msg := commandMsg(topic, bodies[topic])
		if err := p.Publish("commands", msg); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		id := msg.Metadata.Get(socketcommand.MetaCommandID)
		if _, err := uuid.Parse(id); err != nil || ids[id] {
			t.Fatalf("%s: command id %q is not a fresh UUID", topic, id)
		}
		ids[id] = true
		if msg.Metadata.Get(socketcommand.MetaResultID) == "" {
			t.Fatalf("%s: no result event id", topic)
		}
	}
	cmds := srv.Commands()
	if len(cmds) != len(socketcommand.Topics) {
		t.Fatalf("server got %d commands", len(cmds))
	}
	for _, c := range cmds {
		if !ids[c.ID] {
			t.Errorf("server got unknown id %s", c.ID)
		}
		var want, got any
		_ = json.Unmarshal([]byte(bodies[c.Topic]), &want)
		_ = json.Unmarshal(c.Body, &got)
		if w, g := mustJSON(want), mustJSON(got); w != g {
			t.Errorf("%s: server got body %s, want %s", c.Topic, g, w)
		}
	}
	// The body-only form with the topic in metadata.
	msg := message.NewMessage(uuid.NewString(), []byte(`{"doorId":9,"dwell":15}`))
	msg.Metadata.Set(socketcommand.MetaTopic, "door.try.dwellopen")
	if err := p.Publish("commands", msg); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestInvalidCommandsArePermanent(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	p := newPublisher(t, url, 2*time.Second)
	tests := []struct{ name, payload, why string }{
		{"not json", `nope`, "payload must be"},
		{"no topic", `{"body":{"doorId":1}}`, "payload must be"},
		{"unknown topic", `{"topic":"door.explode","body":{"doorId":1}}`, "unknown command topic"},
		{"missing doorId", `{"topic":"door.try.open","body":{}}`, "doorId must be a positive integer"},
		{"misspelt doorId", `{"topic":"door.try.open","body":{"doorID":1}}`, "unknown field"},
		{"negative doorId", `{"topic":"door.actuate.open","body":{"doorId":-1}}`, "positive integer"},
		{"fractional doorId", `{"topic":"door.actuate.open","body":{"doorId":1.5}}`, "body:"},
		{"string doorId", `{"topic":"door.actuate.close","body":{"doorId":"1"}}`, "body:"},
		{"no body", `{"topic":"door.actuate.dnd"}`, "body is required"},
		{"dwell zero", `{"topic":"door.try.dwellopen","body":{"doorId":1,"dwell":0}}`, "0.1 s units"},
		{"dwell too long", `{"topic":"door.try.dwellopen","body":{"doorId":1,"dwell":70000}}`, "0.1 s units"},
		{"dwell missing", `{"topic":"door.try.dwellopen","body":{"doorId":1}}`, "0.1 s units"},
		{"discover with body", `{"topic":"endpoint.discover","body":{"doorId":1}}`, "body must be {}"},
		{"querysignal bad address", `{"topic":"endpoint.querysignal","body":{"ioLinkId":1,"address":"zz"}}`, "hex MAC"},
		{"querysignal no ioLinkId", `{"topic":"endpoint.querysignal","body":{"address":"0013a200400a393b"}}`, "ioLinkId"},
		{"querysignal relayDwell", `{"topic":"endpoint.querysignal","body":{"ioLinkId":1,"address":"0013a200400a393b","relayDwell":-2}}`, "relayDwell"},
	}
	for _, tt := range tests {
		err := p.Publish("commands", message.NewMessage(uuid.NewString(), []byte(tt.payload)))
		if err == nil || !middleware.IsPermanent(err) || !errors.Is(err, socketcommand.ErrInvalidCommand) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: err = %v; want a permanent ErrInvalidCommand mentioning %q", tt.name, err, tt.why)
		}
	}
	if n := len(srv.Commands()); n != 0 {
		t.Fatalf("%d invalid commands reached the server", n)
	}
	if socketcommand.Dwell(3*time.Second) != 30 || socketcommand.Dwell(50*time.Millisecond) != 1 {
		t.Fatal("Dwell conversion")
	}
}

func TestServerErrorIsPermanent(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, socketiotest.Config{OnCommand: func(c socketiotest.Command) ([]socketiotest.Event, error) {
		return nil, errors.New("Door is offline.")
	}})
	p := newPublisher(t, url, 2*time.Second)
	err := p.Publish("commands", commandMsg("door.try.open", `{"doorId":1}`))
	if err == nil || !middleware.IsPermanent(err) || !errors.Is(err, socketcommand.ErrServer) || !strings.Contains(err.Error(), "Door is offline.") {
		t.Fatalf("err = %v; want a permanent ErrServer with the server's message", err)
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, socketiotest.Config{OnCommand: func(c socketiotest.Command) ([]socketiotest.Event, error) {
		time.Sleep(400 * time.Millisecond)
		return nil, nil
	}})
	p := newPublisher(t, url, 150*time.Millisecond)
	err := p.Publish("commands", commandMsg("door.try.open", `{"doorId":1}`))
	if err == nil || middleware.IsPermanent(err) || !errors.Is(err, socketcommand.ErrTimeout) {
		t.Fatalf("err = %v; want a transient ErrTimeout", err)
	}
	// Nothing listening at all: transient too.
	hs := httptest.NewServer(http.NotFoundHandler())
	dead := hs.URL
	hs.Close()
	p2 := newPublisher(t, dead, 150*time.Millisecond)
	if err := p2.Publish("commands", commandMsg("door.try.open", `{"doorId":1}`)); err == nil || middleware.IsPermanent(err) {
		t.Fatalf("err = %v; want transient when not connected", err)
	}
}

// A sink and a source can share one connection; the source then also sees
// the command's result and the door events it caused.
func TestSharedClientWithSource(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, socketiotest.Config{})
	shared, err := client.NewClient(client.Config{Name: "shared", URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Close() })
	sub, err := socketio.NewSubscriber(socketio.Config{Client: shared}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(context.Background(), "events")
	if err != nil {
		t.Fatal(err)
	}
	p, err := socketcommand.NewPublisher(socketcommand.Config{Client: shared, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	msg := commandMsg("door.try.dwellopen", `{"doorId":4,"dwell":30}`)
	if err := p.Publish("commands", msg); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for len(seen) < 2 {
		select {
		case m := <-ch:
			seen[m.Metadata.Get(tributary.MetaEventType)] = string(m.Payload)
			m.Ack()
		case <-time.After(5 * time.Second):
			t.Fatalf("source saw only %v", seen)
		}
	}
	if !strings.Contains(seen["command.result.succeed"], msg.Metadata.Get(socketcommand.MetaCommandID)) || seen["door.input.relay.on"] == "" {
		t.Fatalf("source saw %v", seen)
	}
}
