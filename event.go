package tributary

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

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
	// MetaQuarantined is set by the router on a source's message that it
	// acked without storing, because the event can never be stored (it is
	// in the ingest quarantine instead): the value says why. A source that
	// answers its sender (webhookin) reads it after the ack; see Quarantined.
	MetaQuarantined = "tributary_quarantined"
)

// Quarantined says why the router set msg aside in the ingest quarantine
// instead of storing it ("" when it did not). Read it once msg is acked.
func Quarantined(msg *message.Message) string { return msg.Metadata.Get(MetaQuarantined) }

// maxRawDedupKey is the longest event id kept as its own dedup key: far
// under Postgres's index row limit (2704 bytes) with the pipeline's name
// beside it.
const maxRawDedupKey = 512

// digestPrefix starts the dedup key of an id that is not kept as it is.
const digestPrefix = "tributary-sha256:"

// DedupKey is the key the router dedups an event id on: the id itself when
// it is at most 512 bytes of valid UTF-8 without NUL (text every index
// takes), else digestPrefix and the hex SHA-256 of the whole id. An id that
// itself starts with digestPrefix is digested too, so a digest never equals
// a raw id: two different ids share a key only if SHA-256 collides. The
// event keeps its whole id in MetaEventID either way.
func DedupKey(eventID string) string {
	if len(eventID) <= maxRawDedupKey && utf8.ValidString(eventID) &&
		!strings.ContainsRune(eventID, 0) && !strings.HasPrefix(eventID, digestPrefix) {
		return eventID
	}
	sum := sha256.Sum256([]byte(eventID))
	return digestPrefix + hex.EncodeToString(sum[:])
}

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
