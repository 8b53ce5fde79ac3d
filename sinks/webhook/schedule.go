package webhook

import (
	"fmt"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/middleware"
)

// Retry schedule presets, named after where they come from. Each is a
// middleware.Schedule for router.RetryPolicy; once it is exhausted the router
// poisons the message (replayable with router.PoisonQueue).
const (
	// PresetLinear waits 1 min × attempt, LinearRetries times.
	PresetLinear = "linear"
	// PresetParakey makes 5 retries, the last ~20 min after the first
	// failure: the schedule one ETag event-log provider documents for its
	// own webhooks, kept under that provider's name.
	PresetParakey = "parakey"
	// PresetStandard is the Standard Webhooks schedule: 5 s, 5 min,
	// 30 min, 2 h, 5 h, 10 h, 10 h.
	PresetStandard = "standard"
)

// LinearRetries is how many retries the linear preset makes: 1+2+…+10 min,
// the last 55 min after the first failure (the linear scheme is commonly
// documented without a count).
const LinearRetries = 10

// LinearSchedule is the linear preset: retry n waits n minutes.
func LinearSchedule() middleware.Schedule { return middleware.Linear(time.Minute, LinearRetries) }

// ParakeySchedule is the parakey preset: 5 retries at 1, 3, 7, 13 and 20
// min after the first failure.
func ParakeySchedule() middleware.Schedule {
	return middleware.List(time.Minute, 2*time.Minute, 4*time.Minute, 6*time.Minute, 7*time.Minute)
}

// StandardSchedule is the Standard Webhooks one.
func StandardSchedule() middleware.Schedule {
	return middleware.List(5*time.Second, 5*time.Minute, 30*time.Minute, 2*time.Hour, 5*time.Hour, 10*time.Hour, 10*time.Hour)
}

// ParseSchedule returns a preset by name ("linear", "parakey", "standard") or
// an explicit comma-separated list of Go durations ("10s,1m,5m").
func ParseSchedule(spec string) (middleware.Schedule, error) {
	switch strings.ToLower(strings.TrimSpace(spec)) {
	case PresetLinear:
		return LinearSchedule(), nil
	case PresetParakey:
		return ParakeySchedule(), nil
	case PresetStandard:
		return StandardSchedule(), nil
	case "":
		return middleware.Schedule{}, fmt.Errorf("webhook: empty schedule: want %s, %s, %s or a list like 10s,1m", PresetLinear, PresetParakey, PresetStandard)
	}
	var delays []time.Duration
	for _, f := range strings.Split(spec, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return middleware.Schedule{}, fmt.Errorf("webhook: schedule %q: want a preset (%s, %s, %s) or a list of durations: %w",
				spec, PresetLinear, PresetParakey, PresetStandard, err)
		}
		delays = append(delays, d)
	}
	s := middleware.List(delays...)
	return s, s.Validate()
}
