package amqp_test

import (
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/amqp"
)

// TestMarshalerCarriesEventID: the event id is the message-id property (what
// an AMQP consumer deduplicates on) and a header; read back, it is the id.
func TestMarshalerCarriesEventID(t *testing.T) {
	t.Parallel()
	m := tributary.NewEventMessage("evt-1", []byte(`{"a":1}`))
	m.Metadata.Set(tributary.MetaEventType, "door.opened")
	p, err := amqp.Marshaler{}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if p.MessageId != "evt-1" || p.Headers[tributary.MetaEventID] != "evt-1" || p.Type != "door.opened" ||
		p.DeliveryMode != amqp091.Persistent || p.ContentType != "application/json" {
		t.Fatalf("publishing %+v", p)
	}
	back, err := amqp.Marshaler{}.Unmarshal(amqp091.Delivery{Headers: p.Headers, MessageId: p.MessageId, Type: p.Type, Body: p.Body})
	if err != nil || tributary.EventID(back) != "evt-1" || back.Metadata.Get(brokers.MetaBrokerID) != "evt-1" {
		t.Fatalf("read back %v %+v", err, back)
	}
}

// FuzzUnmarshal: whatever another producer sends, the source gets a message
// (an error would leave it to be redelivered for ever).
func FuzzUnmarshal(f *testing.F) {
	f.Add("id-1", "type", "k", "v", int64(3), []byte(`{"id":"x"}`))
	f.Add("", "", "_watermill_message_uuid", "", int64(-1), []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, id, typ, key, val string, n int64, body []byte) {
		d := amqp091.Delivery{MessageId: id, Type: typ, Body: body,
			Headers: amqp091.Table{key: val, key + "n": n, key + "t": amqp091.Table{"x": n}, key + "b": []byte(val)}}
		m, err := amqp.Marshaler{}.Unmarshal(d)
		if err != nil || m == nil || string(m.Payload) != string(body) {
			t.Fatalf("unmarshal: %v %v", m, err)
		}
		if id != "" && m.Metadata.Get(brokers.MetaBrokerID) != id {
			t.Fatalf("broker id %q, want %q", m.Metadata.Get(brokers.MetaBrokerID), id)
		}
	})
}
