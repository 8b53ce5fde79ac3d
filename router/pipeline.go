package router

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
)

// Pipeline is one flow: its sources feed a durable topic, and every sink
// consumes that topic on its own (fan-out), with dedup on the way in and
// retry, requeue and poison around each sink.
//
//	doors := router.Pipeline{
//		Name:    "doors",
//		Sources: []router.Source{{Name: "door-events", Source: poller}},
//		Sinks:   []router.Sink{{Name: "crm", Publisher: hook}},
//		Retry:   router.RetryPolicy{Schedule: middleware.Linear(time.Minute, 5)},
//	}
type Pipeline struct {
	// Name names the pipeline's topic and appears in metrics; lower-case
	// letters, digits, '-' and '_'.
	Name    string
	Sources []Source
	Sinks   []Sink
	Dedup   DedupPolicy
	Retry   RetryPolicy
}

// Source is one source of a pipeline: a tributary.Source (a Watermill
// Subscriber becomes one with tributary.FromSubscriber). The router hands on
// through Emit only what is durably in the pipeline's topic.
//
// With Config.Leadership set, a source runs in one instance at a time among
// the instances sharing the database, started and stopped as leadership
// comes and goes (tributary.Source may be started again after it stopped);
// EveryInstance runs it in every instance instead (right for inbound
// webhooks, which every instance serves).
type Source struct {
	Name   string
	Source tributary.Source
	// EveryInstance: see above.
	EveryInstance bool
}

// Sink is a Watermill Publisher that delivers somewhere. Its errors are
// transient unless marked with middleware.Permanent; middleware.RetryAfter
// carries a wait the receiver asked for.
type Sink struct {
	Name      string
	Publisher message.Publisher
	// Topic is passed to Publisher.Publish; Name when empty.
	Topic string
	// Retry overrides the pipeline's RetryPolicy for this sink when set.
	Retry *RetryPolicy
	// Concurrency is how many deliveries of this sink may be under way at
	// once; 1 when zero, which delivers in topic order. Above 1 deliveries
	// overlap and order is not kept; the topic position still advances only
	// over finished claims, so a crash repeats at most one claim. For an
	// ordered sink (OrderKey) it is how many lanes this instance works at
	// once; Lanes when zero.
	Concurrency int
	// OrderKey, when set, makes the sink ordered per key: events with the
	// same key are delivered one at a time in topic order, events with
	// different keys in parallel, up to Lanes at once among every instance
	// sharing the database (Postgres backend only; see docs/ordering.md).
	// "" is no key: the event waits for nothing. An error is the event's:
	// it is poisoned for this sink. package routing builds keys from
	// expressions (routing.NewOrderKey).
	OrderKey func(*message.Message) (string, error)
	// Lanes is how many lanes an ordered sink's keys are spread over (by a
	// hash of the key): the most events delivered at once; DefaultLanes
	// when zero. Keys sharing a lane still never wait for each other's
	// failures, only for their turn.
	Lanes int
	// OnFailure is what a failed delivery does to its key on an ordered
	// sink: Hold (the default) or Requeue.
	OnFailure FailurePolicy
	// Filter, when set, decides whether this sink gets a message. A message
	// it turns down is acked for this sink at once and counted as filtered
	// (tributary_events_filtered_total), never as a failure. An error is
	// the message's (it cannot be judged): it is poisoned for this sink.
	// package routing builds filters from type patterns and expressions.
	Filter func(*message.Message) (bool, error)
	// Transform, when set, shapes what this sink receives: it gets a copy of
	// the message (payload and metadata its own to change) and returns the
	// message to publish. It runs on every attempt, so the stored event and
	// its retries keep the original. An error is permanent: the message is
	// poisoned for this sink with it as the reason.
	Transform func(*message.Message) (*message.Message, error)
}

// DedupPolicy configures dedup on the ingest path, keyed by the event id
// (tributary.MetaEventID, else the message UUID). A pipeline file's
// `dedup:` block decodes into it.
type DedupPolicy struct {
	// Disabled turns dedup off.
	Disabled bool `yaml:"disabled"`
	// TTL is how long a key is remembered; DefaultDedupTTL when zero.
	TTL time.Duration `yaml:"ttl"`
}

// DefaultDedupTTL is how long a dedup key is remembered when
// DedupPolicy.TTL is zero.
const DefaultDedupTTL = 7 * 24 * time.Hour

// Validate reports every problem with d, each a *tributary.OptionError
// named by its key in a pipeline file.
func (d DedupPolicy) Validate() error {
	if d.TTL < 0 {
		return tributary.Option("ttl", "must not be negative")
	}
	return nil
}

// RetryPolicy configures what happens when a sink fails. A pipeline file's
// `retry:` blocks decode into it.
type RetryPolicy struct {
	// InProcess retries briefly while holding the message; DefaultRetry when nil.
	InProcess *middleware.Retry `yaml:"in_process"`
	// Schedule spaces the requeued attempts; DefaultSchedule when zero.
	Schedule middleware.Schedule `yaml:"schedule"`
	// Preset names a schedule instead of Schedule (middleware.ParseSchedule:
	// linear, parakey, standard, or a list such as "10s,1m,5m"); give one
	// or the other.
	Preset string `yaml:"preset"`
}

// DefaultSchedule is the retry schedule of a pipeline that sets none.
func DefaultSchedule() middleware.Schedule {
	s := middleware.Exponential(5*time.Second, 10*time.Minute, 8)
	s.Jitter = 0.2
	return s
}

// Validate reports every problem with r, each a *tributary.OptionError
// named by its key in a pipeline file's `retry:` block.
func (r RetryPolicy) Validate() error {
	var errs []error
	if r.Preset != "" {
		if r.Schedule.Kind != "" {
			errs = append(errs, tributary.Option("preset", "give schedule or preset, not both"))
		} else if _, err := middleware.ParseSchedule(r.Preset); err != nil {
			errs = append(errs, tributary.Option("preset", "%v", err))
		}
	}
	if r.Schedule.Kind != "" {
		errs = append(errs, tributary.Nested("schedule", r.Schedule.Validate()))
	}
	if r.InProcess != nil {
		errs = append(errs, tributary.Nested("in_process", r.InProcess.Validate()))
	}
	return errors.Join(errs...)
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (p *Pipeline) setDefaults() {
	if p.Dedup.TTL == 0 {
		p.Dedup.TTL = DefaultDedupTTL
	}
	p.Retry.setDefaults()
	for i := range p.Sinks {
		if p.Sinks[i].Topic == "" {
			p.Sinks[i].Topic = p.Sinks[i].Name
		}
		if p.Sinks[i].OrderKey != nil {
			if p.Sinks[i].Lanes == 0 {
				p.Sinks[i].Lanes = DefaultLanes
			}
			if p.Sinks[i].OnFailure == "" {
				p.Sinks[i].OnFailure = Hold
			}
		}
		if p.Sinks[i].Retry == nil {
			r := p.Retry
			p.Sinks[i].Retry = &r
		} else {
			p.Sinks[i].Retry.setDefaults()
		}
	}
}

func (r *RetryPolicy) setDefaults() {
	if r.InProcess == nil {
		d := middleware.DefaultRetry()
		r.InProcess = &d
	}
	if r.Schedule.Kind == "" && r.Preset != "" {
		if s, err := middleware.ParseSchedule(r.Preset); err == nil { // else Validate says why
			r.Schedule, r.Preset = s, ""
		}
	}
	if r.Schedule.Kind == "" {
		r.Schedule = DefaultSchedule()
	}
}

// Validate reports every problem with p.
func (p Pipeline) Validate() error {
	var errs []error
	if !namePattern.MatchString(p.Name) {
		errs = append(errs, fmt.Errorf("pipeline name %q: want lower-case letters, digits, '-' and '_'", p.Name))
	}
	if len(p.Sources) == 0 {
		errs = append(errs, fmt.Errorf("pipeline %q: no sources", p.Name))
	}
	if len(p.Sinks) == 0 {
		errs = append(errs, fmt.Errorf("pipeline %q: no sinks", p.Name))
	}
	seen := map[string]bool{}
	for _, s := range p.Sources {
		if !namePattern.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("pipeline %q: source name %q: want lower-case letters, digits, '-' and '_'", p.Name, s.Name))
		}
		if s.Source == nil {
			errs = append(errs, fmt.Errorf("pipeline %q: source %q has no Source", p.Name, s.Name))
		}
		if seen["source:"+s.Name] {
			errs = append(errs, fmt.Errorf("pipeline %q: source %q named twice", p.Name, s.Name))
		}
		seen["source:"+s.Name] = true
	}
	for _, s := range p.Sinks {
		if !namePattern.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("pipeline %q: sink name %q: want lower-case letters, digits, '-' and '_'", p.Name, s.Name))
		}
		if s.Publisher == nil {
			errs = append(errs, fmt.Errorf("pipeline %q: sink %q has no Publisher", p.Name, s.Name))
		}
		if err := s.ValidateOptions(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %q: sink %q: %w", p.Name, s.Name, err))
		}
		if seen["sink:"+s.Name] {
			errs = append(errs, fmt.Errorf("pipeline %q: sink %q named twice", p.Name, s.Name))
		}
		seen["sink:"+s.Name] = true
	}
	if err := p.Retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline %q: %w", p.Name, tributary.Nested("retry", err)))
	}
	if err := p.Dedup.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline %q: %w", p.Name, tributary.Nested("dedup", err)))
	}
	return errors.Join(errs...)
}

// MaxLanes bounds Sink.Lanes.
const MaxLanes = 1024

// ValidateOptions reports every problem with s's options (not its name or
// Publisher), each a *tributary.OptionError named by its key in a pipeline
// file's sink ("" for the sink as a whole).
func (s Sink) ValidateOptions() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if s.Concurrency < 0 {
		bad("concurrency", "must not be negative")
	}
	if s.Retry != nil {
		if err := s.Retry.Validate(); err != nil {
			errs = append(errs, tributary.Nested("retry", err))
		}
	}
	if s.Lanes < 0 || s.Lanes > MaxLanes {
		bad("lanes", "%d; want 1 to %d (the most events delivered at once; default %d)", s.Lanes, MaxLanes, DefaultLanes)
	}
	switch s.OnFailure {
	case "", Hold, Requeue:
	default:
		bad("on_failure", "%q; want %s (a failing event holds back its key) or %s (its key moves on)", string(s.OnFailure), Hold, Requeue)
	}
	if s.OrderKey == nil && (s.Lanes != 0 || s.OnFailure != "") {
		bad("", "lanes and on_failure need order_by (the expression that gives each event its order key)")
	}
	return errors.Join(errs...)
}

// Topic is the name of a pipeline's durable topic.
func Topic(pipeline string) string { return "tributary." + pipeline }

// RetryTopic is the delayed topic a sink's requeued messages wait in.
func RetryTopic(pipeline, sink string) string { return "tributary." + pipeline + ".retry." + sink }
