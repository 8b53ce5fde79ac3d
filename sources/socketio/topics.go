package socketio

import "strings"

// KnownTopics are the event topics an access-control stream documents. The
// source emits every event it receives, these or others,
// unless Config.Topics narrows it.
var KnownTopics = []string{
	"command.result.succeed",
	"door.alarm.forced",
	"door.alarm.forced.cleared",
	"door.alarm.propped.off",
	"door.alarm.propped.on",
	"door.forceclose.off",
	"door.forceclose.on",
	"door.input.dps.closed",
	"door.input.dps.opened",
	"door.input.relay.off",
	"door.input.relay.on",
	"door.input.rex.off",
	"door.input.rex.on",
	"door.request.allowed",
	"door.request.denied",
	"door.request.unknown",
	"endpoint.discovered",
	"endpoint.signal",
	"liveEvent",
	"migration.completed",
	"migration.staged",
	"migration.started",
	"migration.task.completed",
	"migration.task.started",
	"serverError",
}

// topicFilter matches event names against patterns: an exact name, a
// prefix ending in "*" ("door.*", "migration.*"), or "*" for everything.
// An empty filter matches everything.
type topicFilter []string

func (f topicFilter) match(name string) bool {
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if prefix, ok := strings.CutSuffix(p, "*"); p == name || ok && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}
