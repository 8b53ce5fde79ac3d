// Package components is the registry of source and sink types a pipeline file
// can name. Each type registers a factory that decodes its own options from
// the file (strictly: unknown keys are errors) and builds a tributary.Source
// or a Watermill Publisher. The built-in types are registered by package
// components/builtin (which the binary and the loader import); a program
// adds its own with RegisterSource and RegisterSink in an init function.
package components

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary"
)

// Options is the `options:` block of one source or sink in a pipeline file.
type Options interface {
	// Decode decodes the block strictly into v, a pointer to the type's
	// options struct: unknown keys and mistyped values are errors that name
	// the file, line and field. An absent block leaves v as it is.
	Decode(v any) error
}

// Env is what a factory gets besides its options.
type Env struct {
	// Pipeline, Name and Type identify the component in the file.
	Pipeline, Name, Type string
	// Pool is the database (for checkpoints and delivery logs).
	Pool *pgxpool.Pool
	// Logger is the process logger, with the component's fields.
	Logger watermill.LoggerAdapter
	// MetadataHeaders are the headers the sink's transform sets (header →
	// metadata key); a sink type registered with SendHeaders adds them to
	// its requests.
	MetadataHeaders map[string]string
}

// TypeOption is a property of a registered type, given to RegisterSource or
// RegisterSink after the build function.
type TypeOption struct {
	kind  Kind // the kind it applies to
	name  string
	apply func(*entry)
}

// RunOnEveryInstance marks a source type that every instance runs when
// several share a database: it receives (inbound webhooks) rather than reads
// a provider, so running it twice reads nothing twice. A source type without
// it runs in one instance at a time (router.Leadership).
func RunOnEveryInstance() TypeOption {
	return TypeOption{kind: KindSource, name: "RunOnEveryInstance", apply: func(e *entry) { e.everyInstance = true }}
}

// SendHeaders marks a sink type that sends HTTP headers, so that a
// pipeline's `transform.headers` may set some (Env.MetadataHeaders); the
// file rejects that key on other sinks.
func SendHeaders() TypeOption {
	return TypeOption{kind: KindSink, name: "SendHeaders", apply: func(e *entry) { e.sendsHeaders = true }}
}

// SendsHeaders reports whether sinks of type typ were registered with
// SendHeaders.
func SendsHeaders(typ string) bool { return lookup(KindSink, typ).sendsHeaders }

// RunsOnEveryInstance reports whether a source type was registered with
// RunOnEveryInstance: every instance runs it, rather than the one leading it.
func RunsOnEveryInstance(typ string) bool { return lookup(KindSource, typ).everyInstance }

// Validator is implemented by options structs that can check themselves;
// `tributary validate` calls it without building anything.
type Validator interface{ Validate() error }

// Decoded is a component's options, decoded and validated, ready to build.
type Decoded struct {
	Type  string
	opts  any
	build func(env Env, opts any) (any, error)
}

// Options returns the decoded options value (a pointer to the type's struct).
func (d Decoded) Options() any { return d.opts }

// Kind says whether a type is a source or a sink.
type Kind string

const (
	KindSource Kind = "source"
	KindSink   Kind = "sink"
)

type entry struct {
	doc    string
	typ    reflect.Type
	decode func(Options) (Decoded, error)

	everyInstance bool // sources: RunOnEveryInstance
	sendsHeaders  bool // sinks: SendHeaders
}

var (
	mu       sync.RWMutex
	registry = map[Kind]map[string]entry{KindSource: {}, KindSink: {}}
)

// lookup returns a registered type's entry, the zero entry for an unknown one.
func lookup(kind Kind, name string) entry {
	mu.RLock()
	defer mu.RUnlock()
	return registry[kind][name]
}

// RegisterSource adds a source type. O is its options struct; build gets a
// pointer to the decoded (and, if O implements Validator, validated) value.
// props are the type's properties (RunOnEveryInstance). It panics on a
// duplicate name, or on a property of the other kind: registration happens in
// init functions.
func RegisterSource[O any](name, doc string, build func(env Env, opts *O) (tributary.Source, error), props ...TypeOption) {
	register(KindSource, name, doc, func(env Env, o *O) (any, error) { return build(env, o) }, props)
}

// RegisterSink adds a sink type; see RegisterSource. Its properties:
// SendHeaders.
func RegisterSink[O any](name, doc string, build func(env Env, opts *O) (message.Publisher, error), props ...TypeOption) {
	register(KindSink, name, doc, func(env Env, o *O) (any, error) { return build(env, o) }, props)
}

func register[O any](kind Kind, name, doc string, build func(Env, *O) (any, error), props []TypeOption) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[kind][name]; dup {
		panic(fmt.Sprintf("components: %s type %q registered twice", kind, name))
	}
	e := entry{doc: doc, typ: reflect.TypeFor[O]()}
	for _, p := range props {
		if p.kind != kind {
			panic(fmt.Sprintf("components: %s type %q: %s is for %s types", kind, name, p.name, p.kind))
		}
		p.apply(&e)
	}
	e.decode = func(o Options) (Decoded, error) {
		v := new(O)
		err := o.Decode(v)
		if val, ok := any(v).(Validator); ok {
			// Validate what did decode even when something did not, so
			// that every problem is reported at once; the caller drops
			// Validate's word on a key the decoder already reported.
			err = errors.Join(err, val.Validate())
		}
		if err != nil {
			return Decoded{}, err
		}
		return Decoded{Type: name, opts: v, build: func(env Env, opts any) (any, error) {
			return build(env, opts.(*O))
		}}, nil
	}
	registry[kind][name] = e
}

// Types lists the registered type names of a kind, sorted.
func Types(kind Kind) []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(registry[kind]))
}

// Doc returns a type's one-line description.
func Doc(kind Kind, name string) string { return lookup(kind, name).doc }

// OptionsType returns the options type a type registered with (the O of
// RegisterSource / RegisterSink), nil for an unregistered type. Its yaml
// tags are the keys of the type's `options:` block.
func OptionsType(kind Kind, name string) reflect.Type { return lookup(kind, name).typ }

// ErrUnknownType is returned by Decode for an unregistered type.
type ErrUnknownType struct {
	Kind Kind
	Name string
}

func (e ErrUnknownType) Error() string {
	return fmt.Sprintf("unknown %s type %q", e.Kind, e.Name)
}

// Decode decodes and validates the options of a component of the given type.
func Decode(kind Kind, typ string, opts Options) (Decoded, error) {
	e := lookup(kind, typ)
	if e.decode == nil {
		return Decoded{}, ErrUnknownType{Kind: kind, Name: typ}
	}
	return e.decode(opts)
}

// BuildSource builds a decoded source.
func BuildSource(d Decoded, env Env) (tributary.Source, error) {
	return build[tributary.Source](d, env)
}

// FromSubscriber is a source type's Source for a Watermill Subscriber that
// cannot subscribe again once closed: the first start runs the one built
// now (so that a bad option fails the build), each later start (leadership
// come back) one built again.
func FromSubscriber(build func() (message.Subscriber, error)) (tributary.Source, error) {
	first, err := build()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	return tributary.NewSubscriberSource("", func() (message.Subscriber, error) {
		mu.Lock()
		defer mu.Unlock()
		if s := first; s != nil {
			first = nil
			return s, nil
		}
		return build()
	}), nil
}

// BuildSink builds a decoded sink.
func BuildSink(d Decoded, env Env) (message.Publisher, error) {
	return build[message.Publisher](d, env)
}

func build[T any](d Decoded, env Env) (T, error) {
	v, err := d.build(env, d.opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}
