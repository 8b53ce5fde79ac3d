package components

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
)

// ScheduleSupplier is a built sink that brings its own retry schedule, such
// as the webhook sink's retry_schedule preset. A zero Kind means none.
type ScheduleSupplier interface {
	RetrySchedule() middleware.Schedule
}

// SinkRetry returns the retry policy of a built sink: own is the sink's
// `retry:` block from the file (nil when absent), pipeline the pipeline's
// policy. A schedule the sink supplies fills in when own sets no schedule,
// keeping the in-process retry of own (else of the pipeline). A schedule written
// in the sink's `retry:` block wins: it is the router-level, explicit one.
func SinkRetry(pub message.Publisher, own *router.RetryPolicy, pipeline router.RetryPolicy) *router.RetryPolicy {
	sup, ok := pub.(ScheduleSupplier)
	if !ok {
		return own
	}
	s := sup.RetrySchedule()
	if s.Kind == "" || (own != nil && own.Schedule.Kind != "") {
		return own
	}
	r := pipeline
	if own != nil {
		r = *own // it replaces the pipeline's policy, as without a supplied schedule
	}
	r.Schedule = s
	return &r
}
