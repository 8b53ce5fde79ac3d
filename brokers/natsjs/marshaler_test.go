package natsjs_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/natsjs"
)

// TestMarshalerCarriesEventID: the event id is the Nats-Msg-Id (the stream
// drops a repeat within its duplicate window) and a header; a metadata value
// with a line break stays on one header line.
func TestMarshalerCarriesEventID(t *testing.T) {
	t.Parallel()
	m := tributary.NewEventMessage("evt-1", []byte(`{"a":1}`))
	m.Metadata.Set("note", "two\r\nlines")
	nm, err := natsjs.Marshaler{}.Marshal("subj", m)
	if err != nil {
		t.Fatal(err)
	}
	if nm.Header.Get(nats.MsgIdHdr) != "evt-1" || nm.Header.Get(tributary.MetaEventID) != "evt-1" || nm.Header.Get("note") != "two lines" {
		t.Fatalf("headers %v", nm.Header)
	}
	back, err := natsjs.Marshaler{}.Unmarshal(nm)
	if err != nil || tributary.EventID(back) != "evt-1" || back.Metadata.Get(brokers.MetaBrokerID) != "evt-1" {
		t.Fatalf("read back %v %+v", err, back)
	}
}

// FuzzUnmarshal: any message of another producer becomes a message.
func FuzzUnmarshal(f *testing.F) {
	f.Add("k", "v", "w", []byte("body"))
	f.Add(nats.MsgIdHdr, "", "", []byte{})
	f.Fuzz(func(t *testing.T, k, v1, v2 string, body []byte) {
		nm := nats.NewMsg("s")
		nm.Data = body
		nm.Header[k] = []string{v1, v2}
		m, err := natsjs.Marshaler{}.Unmarshal(nm)
		if err != nil || m == nil || string(m.Payload) != string(body) {
			t.Fatalf("unmarshal: %v %v", m, err)
		}
	})
}
