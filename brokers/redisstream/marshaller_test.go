package redisstream_test

import (
	"testing"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/redisstream"
)

// TestMarshallerCarriesEventID: the entry has event_id and event_type fields
// any consumer can read; read back, the event id is the id.
func TestMarshallerCarriesEventID(t *testing.T) {
	t.Parallel()
	m := tributary.NewEventMessage("evt-1", []byte(`{"a":1}`))
	m.Metadata.Set(tributary.MetaEventType, "door.opened")
	v, err := redisstream.Marshaller{}.Marshal("s", m)
	if err != nil {
		t.Fatal(err)
	}
	if v[redisstream.FieldEventID] != "evt-1" || v[redisstream.FieldEventType] != "door.opened" {
		t.Fatalf("fields %v", v)
	}
	// Redis hands every value back as a string.
	str := map[string]any{}
	for k, x := range v {
		switch x := x.(type) {
		case []byte:
			str[k] = string(x)
		default:
			str[k] = x
		}
	}
	back, err := redisstream.Marshaller{}.Unmarshal(str)
	if err != nil || tributary.EventID(back) != "evt-1" || string(back.Payload) != `{"a":1}` {
		t.Fatalf("read back %v %+v", err, back)
	}
}

// FuzzUnmarshal: any entry of another producer becomes a message, never an
// error (which would end the subscription).
func FuzzUnmarshal(f *testing.F) {
	f.Add("payload", "body", "event_id", "x", "_watermill_message_uuid", "u")
	f.Add("metadata", "\xff\x00", "a", "", "_watermill_message_uuid", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		m, err := redisstream.Marshaller{}.Unmarshal(map[string]any{k1: v1, k2: v2, k3: v3, "metadata": v1})
		if err != nil || m == nil {
			t.Fatalf("unmarshal: %v %v", m, err)
		}
		_ = m.Metadata.Get(brokers.MetaBrokerID)
	})
}
