// Package tributary holds what every source, sink and pipeline agrees on: the
// metadata keys an event carries and how a message is built from a provider's
// event so that re-reads of the same event are recognisable.
//
// The pipeline itself is composed with package router; sources live under
// sources/ and sinks under sinks/.
package tributary
