package socketio_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

func TestReceivesEverySeedTopic(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	sub, ch := subscribe(t, socketio.Config{Socket: fastSocket(url)}, nil)
	name := sub.Client().Name()
	got := collect(t, ch)
	waitJoined(t, srv, "/", 1)

	at := time.Date(2023, 5, 4, 17, 59, 16, 0, time.UTC)
	sent := map[string]any{}
	for i, topic := range socketio.KnownTopics {
		ev := socketiotest.SampleEvent(topic, socketiotest.Door{ID: i + 1, Name: "Front"}, at, i)
		sent[topic] = ev
		srv.Emit("/", topic, ev)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "every known topic", func() bool { return got.len() == len(socketio.KnownTopics) })
	types := got.types()
	for _, topic := range socketio.KnownTopics {
		if types[topic] != 1 {
			t.Errorf("topic %s received %d times, want 1", topic, types[topic])
		}
	}
	for _, m := range got.all() {
		topic := m.Metadata.Get(tributary.MetaEventType)
		want, _ := json.Marshal(sent[topic])
		if string(m.Payload) != string(want) {
			t.Errorf("%s payload = %s, want %s", topic, m.Payload, want)
		}
		var env struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(m.Payload, &env)
		id := m.Metadata.Get(tributary.MetaEventID)
		switch {
		case env.ID != "" && id != env.ID:
			t.Errorf("%s: event id %q, want the event's own id %q", topic, id, env.ID)
		case env.ID == "" && !strings.HasPrefix(id, "sha256:"):
			t.Errorf("%s: event id %q, want a sha256: hash", topic, id)
		}
		if m.UUID != tributary.MessageUUID(id) {
			t.Errorf("%s: message UUID not derived from the event id", topic)
		}
		if m.Metadata.Get(socketio.MetaEvent) != topic || m.Metadata.Get(socketio.MetaNamespace) != "/" {
			t.Errorf("%s: metadata %v", topic, m.Metadata)
		}
	}
	if st := sub.Status(); st.State != client.StateConnected || st.SessionID == "" || st.Connects != 1 {
		t.Errorf("status = %+v, want connected once with a session id", st)
	}
	if sub.Pending() != 0 {
		t.Errorf("%d events pending after every ack", sub.Pending())
	}
	m := metricsText(t)
	for _, want := range []string{
		fmt.Sprintf(`tributary_socketio_connection_state{pipeline="test",source=%q} 2`, name),
		fmt.Sprintf(`tributary_source_up{pipeline="test",source=%q} 1`, name),
		fmt.Sprintf(`tributary_socketio_events_total{pipeline="test",source=%q} %d`, name, len(socketio.KnownTopics)),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestTopicFilter(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	_, ch := subscribe(t, socketio.Config{Socket: fastSocket(url), Topics: []string{"door.alarm.*", "liveEvent"}}, nil)
	got := collect(t, ch)
	waitJoined(t, srv, "/", 1)
	for i, topic := range socketio.KnownTopics {
		srv.Emit("/", topic, socketiotest.SampleEvent(topic, socketiotest.Door{ID: 1}, time.Now(), i))
	}
	srv.Emit("/", "marker", map[string]string{"x": "y"}) // not kept either; everything before it was read
	pipelinetest.WaitFor(t, 5*time.Second, "filtered events", func() bool { return got.len() == 5 })
	time.Sleep(100 * time.Millisecond)
	want := map[string]int{"door.alarm.forced": 1, "door.alarm.forced.cleared": 1, "door.alarm.propped.off": 1, "door.alarm.propped.on": 1, "liveEvent": 1}
	if fmt.Sprint(got.types()) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want %v", got.types(), want)
	}
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	cfg := fastSocket(url)
	cfg.Namespace = "/panel"
	_, ch := subscribe(t, socketio.Config{Socket: cfg}, nil)
	got := collect(t, ch)
	waitJoined(t, srv, "/panel", 1)
	srv.Emit("/", "door.input.rex.on", map[string]any{"topic": "door.input.rex.on", "body": map[string]int{"doorId": 1}})
	srv.Emit("/panel", "door.input.rex.off", map[string]any{"topic": "door.input.rex.off", "body": map[string]int{"doorId": 1}})
	pipelinetest.WaitFor(t, 5*time.Second, "the namespaced event", func() bool { return got.len() >= 1 })
	time.Sleep(100 * time.Millisecond)
	if tps := got.types(); len(tps) != 1 || tps["door.input.rex.off"] != 1 {
		t.Fatalf("got %v; want only the /panel event", tps)
	}
	if ns := got.all()[0].Metadata.Get(socketio.MetaNamespace); ns != "/panel" {
		t.Fatalf("namespace metadata %q", ns)
	}
}

func TestNackedMessageIsRedelivered(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	sub, ch := subscribe(t, socketio.Config{Socket: fastSocket(url), NackDelay: 10 * time.Millisecond}, nil)
	waitJoined(t, srv, "/", 1)
	for i := 0; i < 3; i++ {
		srv.Emit("/", "door.input.dps.opened", socketiotest.SampleEvent("door.input.dps.opened", socketiotest.Door{ID: i}, time.Now(), i))
	}
	var order []string
	nacks := 0
	for len(order) < 3 {
		select {
		case m := <-ch:
			// Nack each message twice before acking: it must come back, first in line.
			if nacks < 2 {
				nacks++
				if len(order) > 0 && order[len(order)-1] == m.UUID {
					t.Fatal("an acked message came back")
				}
				m.Nack()
				continue
			}
			nacks = 0
			order = append(order, m.UUID)
			if sub.Pending() != 3-len(order)+1 {
				t.Fatalf("pending = %d before the ack of #%d", sub.Pending(), len(order))
			}
			m.Ack()
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d messages arrived", len(order))
		}
	}
	if order[0] == order[1] || order[1] == order[2] {
		t.Fatalf("order %v", order)
	}
	pipelinetest.WaitFor(t, time.Second, "no pending", func() bool { return sub.Pending() == 0 })
}

func TestEventIDIsStable(t *testing.T) {
	t.Parallel()
	a := socketio.EventID("door.alarm.forced", json.RawMessage(`{"topic":"door.alarm.forced","body":{"doorId":1,"door":{"id":1,"name":"A"}},"occurred":"2023-05-04 17:59:16"}`))
	// Same event, other key order and spacing: same id.
	b := socketio.EventID("door.alarm.forced", json.RawMessage(`{"occurred":"2023-05-04 17:59:16", "body":{"door":{"name":"A","id":1},"doorId":1},"topic":"door.alarm.forced"}`))
	// Another time, another door, another topic: other ids.
	c := socketio.EventID("door.alarm.forced", json.RawMessage(`{"topic":"door.alarm.forced","body":{"doorId":1,"door":{"id":1,"name":"A"}},"occurred":"2023-05-04 17:59:17"}`))
	d := socketio.EventID("door.alarm.forced", json.RawMessage(`{"topic":"door.alarm.forced","body":{"doorId":2,"door":{"id":1,"name":"A"}},"occurred":"2023-05-04 17:59:16"}`))
	e := socketio.EventID("door.alarm.forced.cleared", json.RawMessage(`{"topic":"door.alarm.forced","body":{"doorId":1,"door":{"id":1,"name":"A"}},"occurred":"2023-05-04 17:59:16"}`))
	if a != b {
		t.Errorf("same event, different ids %s %s", a, b)
	}
	for _, other := range []string{c, d, e} {
		if other == a {
			t.Errorf("different events share id %s", a)
		}
	}
	if id := socketio.EventID("door.request.allowed", json.RawMessage(`{"id":"0153463f-d9ba-435f-b099-60f2b7c8d7e3","topic":"x"}`)); id != "0153463f-d9ba-435f-b099-60f2b7c8d7e3" {
		t.Errorf("own id not used: %s", id)
	}
	if socketio.EventID("migration.started", nil) != socketio.EventID("migration.started", nil) {
		t.Error("bodiless event id not deterministic")
	}
}

// The same alarm (no id) seen again across a reconnect gets the same event id.
func TestSameAlarmAcrossReconnectKeepsItsID(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, socketiotest.Config{})
	sub, ch := subscribe(t, socketio.Config{Socket: fastSocket(url)}, nil)
	got := collect(t, ch)
	waitJoined(t, srv, "/", 1)
	// The connection the server joined is the client's live one.
	pipelinetest.WaitFor(t, 5*time.Second, "connected", func() bool {
		st := sub.Status()
		return st.State == client.StateConnected && st.Connects == 1
	})
	alarm := socketiotest.SampleEvent("door.alarm.forced", socketiotest.Door{ID: 3, Name: "Dock"}, time.Date(2023, 5, 4, 17, 59, 16, 0, time.UTC), 0)
	srv.Emit("/", "door.alarm.forced", alarm)
	pipelinetest.WaitFor(t, 5*time.Second, "first alarm", func() bool { return got.len() == 1 })
	srv.Drop()
	pipelinetest.WaitFor(t, 5*time.Second, "reconnect", func() bool { return sub.Status().Connects == 2 && srv.Clients() == 1 })
	waitJoined(t, srv, "/", 1)
	srv.Emit("/", "door.alarm.forced", alarm)
	pipelinetest.WaitFor(t, 5*time.Second, "second alarm", func() bool { return got.len() == 2 })
	ms := got.all()
	if ms[0].Metadata.Get(tributary.MetaEventID) != ms[1].Metadata.Get(tributary.MetaEventID) || ms[0].UUID != ms[1].UUID {
		t.Fatalf("ids differ across reconnect: %s vs %s", ms[0].Metadata.Get(tributary.MetaEventID), ms[1].Metadata.Get(tributary.MetaEventID))
	}
}

// Backpressure: while the pipeline does not take events, the source stops
// reading the socket but keeps pinging, so the server (which drops clients
// that stop pinging) keeps the connection and nothing is lost.
func TestBackpressureKeepsTheConnection(t *testing.T) {
	t.Parallel()
	// The server drops a client silent for pingInterval+pingTimeout (500 ms);
	// nobody reads for three times that.
	srv, url := startServer(t, socketiotest.Config{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond})
	sub, ch := subscribe(t, socketio.Config{Socket: fastSocket(url), MaxPending: 2}, nil)
	waitJoined(t, srv, "/", 1)
	const n = 20
	for i := 0; i < n; i++ {
		srv.Emit("/", "door.input.relay.on", socketiotest.SampleEvent("door.input.relay.on", socketiotest.Door{ID: i + 1}, time.Now(), i))
	}
	time.Sleep(1500 * time.Millisecond)
	got := collect(t, ch)
	pipelinetest.WaitFor(t, 5*time.Second, fmt.Sprintf("every event (status %+v)", sub.Status()), func() bool { return got.len() == n })
	if st := sub.Status(); st.Connects != 1 || srv.HeartbeatTimeouts() != 0 {
		t.Fatalf("connection lost under backpressure: %+v, %d heartbeat timeouts", st, srv.HeartbeatTimeouts())
	}
}
