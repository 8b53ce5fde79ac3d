package tributary

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// Metadata keys set by sources and read by the router and sinks.
const (
	// MetaEventID is the provider's stable id for the event. Dedup keys on it.
	MetaEventID = "tributary_event_id"
	// MetaEventType is the provider's event type or topic (e.g. door.request.allowed).
	MetaEventType = "tributary_event_type"
	// MetaSource is the name of the source that read the event.
	MetaSource = "tributary_source"
	// MetaPipeline is the pipeline the event travels through.
	MetaPipeline = "tributary_pipeline"
)

// eventNamespace scopes the name-based UUIDs derived from event ids.
var eventNamespace = uuid.MustParse("6f1d3f5e-8a52-4c1b-9d8e-2f6a7b1c0e94")

// MessageUUID derives a message UUID from an event id deterministically
// (UUID v5), so that a re-read of the same event yields the same message UUID.
func MessageUUID(eventID string) string {
	return uuid.NewSHA1(eventNamespace, []byte(eventID)).String()
}

// NewEventMessage builds a message for a provider event: its UUID derives from
// eventID and eventID is stored under MetaEventID.
func NewEventMessage(eventID string, payload []byte) *message.Message {
	msg := message.NewMessage(MessageUUID(eventID), payload)
	msg.Metadata.Set(MetaEventID, eventID)
	return msg
}

// EventID returns the stable id of the event a message carries: MetaEventID
// when set, else the message UUID.
func EventID(msg *message.Message) string {
	if id := msg.Metadata.Get(MetaEventID); id != "" {
		return id
	}
	return msg.UUID
}
