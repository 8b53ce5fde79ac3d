package builtin

import "github.com/tributary-dev/tributary/tracing"

// EventTraceparent is the traceparent the router gives an event whose
// source sent no trace context: derived from the event id, so a
// redelivered or re-read event keeps its trace, which makes a duplicate
// easy to follow.
func EventTraceparent(eventID string) string { return tracing.Format(tracing.ForEvent(eventID)) }
