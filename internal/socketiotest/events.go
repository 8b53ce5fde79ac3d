package socketiotest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Door describes a door in sample events.
type Door struct {
	ID   int
	Name string
}

func (d Door) body() map[string]any {
	return map[string]any{"id": d.ID, "name": d.Name, "connection": 1, "port": 1, "partitions": []int{0}, "metadata": map[string]any{}}
}

func stamp(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05") }

// SampleEvent builds an event shaped as the protocol documents it for topic at door d, occurring at
// at; seq varies what would otherwise be identical (e.g. the person id).
// Topics the protocol does not document get a plain {topic, body, occurred} envelope.
func SampleEvent(topic string, d Door, at time.Time, seq int) any {
	occurred := stamp(at)
	person := map[string]any{"id": seq, "firstName": "Test", "lastName": fmt.Sprintf("Person %d", seq), "enabled": true,
		"partition": 0, "activeDate": nil, "expireDate": nil, "metadata": map[string]any{}}
	switch topic {
	case "door.request.allowed", "door.request.denied":
		body := map[string]any{"doorId": d.ID, "personId": seq, "requestFactor": "PIN_ONLY", "person": person, "door": d.body()}
		if topic == "door.request.denied" {
			body["explicit"] = true
		}
		return map[string]any{"id": uuid.NewString(), "topic": topic, "body": body, "occurred": occurred,
			"metadata": map[string]any{"occurred": at.UnixMilli(), "doorName": d.Name, "personName": "Test Person"}}
	case "door.request.unknown":
		return map[string]any{"id": uuid.NewString(), "topic": topic,
			"body":     map[string]any{"doorId": d.ID, "pin": fmt.Sprintf("%04d", seq%10000), "door": d.body()},
			"metadata": map[string]any{"occurred": at.UnixMilli(), "doorName": d.Name}, "occurred": occurred}
	case "command.result.succeed":
		return CommandSucceeded(uuid.NewString(), at)
	case "endpoint.discovered":
		return map[string]any{"topic": topic, "body": map[string]any{"ioLinkId": 1, "address": "0013a200400a393b",
			"ioLinkType": "wirelessCoordinator", "ioLinkName": "wimac",
			"doors": []map[string]any{{"id": d.ID, "port": 1, "name": d.Name}}}}
	case "endpoint.signal":
		return map[string]any{"topic": topic, "body": map[string]any{"ioLinkId": 1, "address": "0013a200400a393b", "dbGain": 40}, "occurred": occurred}
	case "liveEvent":
		return map[string]any{"info": `Person "%s" has requested access to the device "%s". Access allowed. Person used PIN for requesting access.`,
			"occurred": occurred, "topic": "door.request.allowed", "photo": nil,
			"placeholders": []map[string]any{{"text": "Test Person", "id": seq, "type": "person"}, {"text": d.Name, "id": d.ID, "type": "door"}}}
	case "migration.completed", "migration.staged":
		return map[string]any{"systemId": "ea5df7cb-8ea9-443d-9866-b5c44c05b46d"}
	case "migration.started":
		return nil
	case "migration.task.completed", "migration.task.started":
		return map[string]any{"task": "EXPORT_LEGACY_DATA"}
	case "serverError":
		return map[string]any{"message": "Command is not supported."}
	}
	// door.alarm.*, door.forceclose.*, door.input.*: the door envelope without an id.
	return map[string]any{"topic": topic, "body": map[string]any{"doorId": d.ID, "door": d.body()}, "occurred": occurred}
}

// DefaultCommands accepts the documented commands and answers with the events a
// panel would then emit (relay on for an open, the cleared alarm, one
// discovered endpoint, a signal reading); others get ErrUnsupported.
func DefaultCommands(cmd Command) ([]Event, error) {
	var body struct {
		DoorID int `json:"doorId"`
	}
	_ = json.Unmarshal(cmd.Body, &body)
	d := Door{ID: body.DoorID, Name: fmt.Sprintf("Door %d", body.DoorID)}
	now := time.Now()
	ev := func(topic string) Event { return Event{Name: topic, Data: SampleEvent(topic, d, now, 0)} }
	switch cmd.Topic {
	case "door.actuate.open", "door.try.open", "door.try.dwellopen", "door.actuate.forcetoggle":
		return []Event{ev("door.input.relay.on")}, nil
	case "door.actuate.close":
		return []Event{ev("door.input.relay.off")}, nil
	case "door.actuate.dnd":
		return nil, nil
	case "door.alarm.forced.clear":
		return []Event{ev("door.alarm.forced.cleared")}, nil
	case "endpoint.discover":
		return []Event{ev("endpoint.discovered")}, nil
	case "endpoint.querysignal":
		return []Event{ev("endpoint.signal")}, nil
	}
	return nil, ErrUnsupported
}
