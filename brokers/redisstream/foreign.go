package redisstream

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
)

// foreign is the message of an entry another producer wrote: its payload
// field, or all its fields as a JSON object; its event_id field is the
// broker id (else the source hashes the payload: the same entry, claimed
// again, hashes alike).
func foreign(values map[string]any) *message.Message {
	var payload []byte
	if p, ok := values[FieldPayload]; ok {
		payload = []byte(fmt.Sprint(p))
	} else {
		fields := make(map[string]string, len(values))
		for k, v := range values {
			fields[k] = fmt.Sprint(v)
		}
		payload, _ = json.Marshal(fields) // strings only: never fails
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	setField(msg, values, FieldEventID, brokers.MetaBrokerID)
	setField(msg, values, FieldEventType, tributary.MetaEventType)
	return msg
}
