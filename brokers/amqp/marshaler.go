package amqp

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
)

// Marshaler is the wire format of both sides: the payload is the body, the
// metadata are headers, the event id is the message-id property (and the
// tributary_event_id header), the event type the type property. It reads
// messages of any producer: a header that is not a string is kept in its
// text form, the message-id is the broker id of a message without Tributary
// headers. The Watermill UUID travels in the MessageUUIDHeader header.
type Marshaler struct{}

// MessageUUIDHeader is the header holding the Watermill message UUID: the
// name watermill-amqp uses, so that messages interoperate with its
// publishers and subscribers (and with earlier Tributary versions, which
// were built on it).
const MessageUUIDHeader = "_watermill_message_uuid"

// Marshal returns the publishing of msg.
func (Marshaler) Marshal(msg *message.Message) (amqp091.Publishing, error) {
	headers := make(amqp091.Table, len(msg.Metadata)+1)
	for k, v := range msg.Metadata {
		headers[k] = v
	}
	headers[MessageUUIDHeader] = msg.UUID
	p := amqp091.Publishing{
		Headers:      headers,
		MessageId:    tributary.EventID(msg),
		Type:         msg.Metadata.Get(tributary.MetaEventType),
		DeliveryMode: amqp091.Persistent,
		Body:         msg.Payload,
	}
	if json.Valid(msg.Payload) {
		p.ContentType = "application/json"
	}
	return p, nil
}

// Unmarshal returns the message of d; it never fails.
func (Marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	uuid, _ := d.Headers[MessageUUIDHeader].(string)
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	msg := message.NewMessage(uuid, d.Body)
	for k, v := range d.Headers {
		if k != MessageUUIDHeader {
			msg.Metadata.Set(k, fmt.Sprint(v)) // a string as it is
		}
	}
	if d.MessageId != "" {
		msg.Metadata.Set(brokers.MetaBrokerID, d.MessageId)
	}
	if d.Type != "" && msg.Metadata.Get(tributary.MetaEventType) == "" {
		msg.Metadata.Set(tributary.MetaEventType, d.Type)
	}
	return msg, nil
}
