package middleware

import (
	"fmt"
	"strings"
	"time"
)

// Retry schedule presets, named after where they come from. Each is a
// Schedule for router.RetryPolicy (a pipeline file names one with
// `retry: {preset: …}`); once it is exhausted the router poisons the message
// (replayable with router.PoisonQueue).
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
func LinearSchedule() Schedule { return Linear(time.Minute, LinearRetries) }

// ParakeySchedule is the parakey preset: 5 retries at 1, 3, 7, 13 and 20
// min after the first failure.
func ParakeySchedule() Schedule {
	return List(time.Minute, 2*time.Minute, 4*time.Minute, 6*time.Minute, 7*time.Minute)
}

// StandardSchedule is the Standard Webhooks one.
func StandardSchedule() Schedule {
	return List(5*time.Second, 5*time.Minute, 30*time.Minute, 2*time.Hour, 5*time.Hour, 10*time.Hour, 10*time.Hour)
}

// ParseSchedule returns a preset by name ("linear", "parakey", "standard") or
// an explicit comma-separated list of Go durations ("10s,1m,5m"). Its errors
// name no key: callers put them under theirs (tributary.Option).
func ParseSchedule(spec string) (Schedule, error) {
	switch strings.ToLower(strings.TrimSpace(spec)) {
	case PresetLinear:
		return LinearSchedule(), nil
	case PresetParakey:
		return ParakeySchedule(), nil
	case PresetStandard:
		return StandardSchedule(), nil
	case "":
		return Schedule{}, fmt.Errorf("empty schedule: want %s, %s, %s or a list like 10s,1m", PresetLinear, PresetParakey, PresetStandard)
	}
	var delays []time.Duration
	for _, f := range strings.Split(spec, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: want a preset (%s, %s, %s) or a list of durations: %w",
				spec, PresetLinear, PresetParakey, PresetStandard, err)
		}
		if d < 0 {
			return Schedule{}, fmt.Errorf("schedule %q: delay %s is negative", spec, d)
		}
		delays = append(delays, d)
	}
	return List(delays...), nil
}
