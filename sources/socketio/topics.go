package socketio

import "strings"

// SeedTopics are the event topics an access-control stream documents. The
// source emits every event it receives, these or others,
// unless Config.Topics narrows it.
var SeedTopics = []string{
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
		if p == name || p == "*" {
			return true
		}
		if strings.HasSuffix(p, "*") && strings.HasPrefix(name, p[:len(p)-1]) {
			return true
		}
	}
	return false
}
