package socketcommand

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrInvalidCommand marks a command whose topic or body is wrong; it is
// permanent (retrying cannot fix it).
var ErrInvalidCommand = errors.New("invalid command")

// Topics are the commands an access-control stream's server accepts.
var Topics = []string{
	"door.actuate.close",
	"door.actuate.dnd",
	"door.actuate.forcetoggle",
	"door.actuate.open",
	"door.alarm.forced.clear",
	"door.try.dwellopen",
	"door.try.open",
	"endpoint.discover",
	"endpoint.querysignal",
}

// MaxDwell bounds door.try.dwellopen's dwell (0.1 s units): 65535, a 16-bit
// panel field, about 1 h 49 min. The protocol gives no bound; this one refuses
// nonsense without refusing anything a door would do.
const MaxDwell = 65535

// Dwell converts a duration to door.try.dwellopen's 0.1 s units (rounded up,
// so a positive duration is never 0).
func Dwell(d time.Duration) int {
	return int((d + 100*time.Millisecond - 1) / (100 * time.Millisecond))
}

// DoorBody is the body of the door.* commands.
type DoorBody struct {
	DoorID int64 `json:"doorId"`
}

// DwellOpenBody is the body of door.try.dwellopen; Dwell is in 0.1 s units.
type DwellOpenBody struct {
	DoorID int64 `json:"doorId"`
	Dwell  int64 `json:"dwell"`
}

// QuerySignalBody is the body of endpoint.querysignal.
type QuerySignalBody struct {
	IOLinkID     int64  `json:"ioLinkId"`
	Address      string `json:"address"`
	ActuateRelay *bool  `json:"actuateRelay,omitempty"`
	RelayDwell   *int64 `json:"relayDwell,omitempty"`
}

// Validate checks a command's topic and body as the protocol documents them:
// doorId and ioLinkId positive integers, dwell 1…MaxDwell, address a 48- or
// 64-bit hex MAC, endpoint.discover an empty object; unknown fields are
// refused (a misspelt "doorID" would otherwise reach a door as doorId 0).
// It returns the body re-encoded canonically.
func Validate(topic string, body json.RawMessage) (json.RawMessage, error) {
	fail := func(format string, a ...any) (json.RawMessage, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidCommand, topic, fmt.Sprintf(format, a...))
	}
	var v any
	switch topic {
	case "door.actuate.close", "door.actuate.dnd", "door.actuate.forcetoggle", "door.actuate.open",
		"door.alarm.forced.clear", "door.try.open":
		var b DoorBody
		if err := strict(body, &b, "doorId"); err != nil {
			return fail("%v", err)
		}
		if b.DoorID <= 0 {
			return fail("doorId must be a positive integer")
		}
		v = b
	case "door.try.dwellopen":
		var b DwellOpenBody
		if err := strict(body, &b, "doorId", "dwell"); err != nil {
			return fail("%v", err)
		}
		if b.DoorID <= 0 {
			return fail("doorId must be a positive integer")
		}
		if b.Dwell <= 0 || b.Dwell > MaxDwell {
			return fail("dwell is in 0.1 s units and must be 1…%d, got %d", MaxDwell, b.Dwell)
		}
		v = b
	case "endpoint.discover":
		if len(bytes.TrimSpace(body)) == 0 || string(bytes.TrimSpace(body)) == "null" {
			body = json.RawMessage(`{}`)
		}
		var b struct{}
		if err := strict(body, &b); err != nil {
			return fail("body must be {}: %v", err)
		}
		v = b
	case "endpoint.querysignal":
		var b QuerySignalBody
		if err := strict(body, &b, "ioLinkId", "address", "actuateRelay", "relayDwell"); err != nil {
			return fail("%v", err)
		}
		if b.IOLinkID <= 0 {
			return fail("ioLinkId must be a positive integer")
		}
		if _, err := hex.DecodeString(b.Address); err != nil || (len(b.Address) != 12 && len(b.Address) != 16) {
			return fail("address must be a 12- or 16-digit hex MAC, got %q", b.Address)
		}
		if b.RelayDwell != nil && (*b.RelayDwell < 0 || *b.RelayDwell > MaxDwell) {
			return fail("relayDwell must be 0…%d", MaxDwell)
		}
		v = b
	default:
		return fail("unknown command topic (supported: %v)", Topics)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return fail("%v", err)
	}
	return out, nil
}

// strict decodes one JSON object into v, refusing fields other than fields
// (matched case-sensitively: encoding/json alone would take "doorID" for
// "doorId"), non-integer numbers and trailing data.
func strict(body json.RawMessage, v any, fields ...string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("body is required")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	for k := range keys {
		if !slices.Contains(fields, k) {
			return fmt.Errorf("body: unknown field %q (want %v)", k, fields)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return errors.New("body: trailing data")
	}
	return nil
}
