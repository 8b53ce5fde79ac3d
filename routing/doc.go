// Package routing decides which sinks get an event and shapes what each
// receives: event-type patterns ("door.*", "!door.input.*"), predicates and
// transforms written in the expr language (github.com/expr-lang/expr),
// compiled once and run per event. What it builds plugs into router.Sink's
// Filter and Transform; a library user who prefers Go sets those funcs
// directly and never needs this package.
//
// Why expr rather than CEL: expr has no dependencies (cel-go brings ANTLR,
// protobuf and genproto), type-checks an expression against a Go struct at
// compile time (so a misspelt name fails in `tributary validate`, not on the
// first event), reports errors with a line, column and caret, guarantees
// termination with a memory budget (to which this package adds a bound on
// the bytes of the strings an evaluation builds and on its time: see
// MaxEvalBytes), evaluates in a few hundred nanoseconds,
// and builds JSON-shaped values (maps, lists) that encoding/json writes as
// they are, where CEL values have to be converted through protobuf first.
//
// An expression sees one event as these names:
//
//	id        string             the event id (tributary.MetaEventID)
//	type      string             the event type (tributary.MetaEventType)
//	source    string             the source that read it
//	pipeline  string             the pipeline it travels through
//	metadata  map[string]string  all of its metadata
//	payload   any                its JSON payload, decoded (objects are maps,
//	                             numbers are float64); decoded only when the
//	                             expression names it
package routing
