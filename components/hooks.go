package components

import (
	"context"
	"slices"
)

// Optional interfaces a built source or sink may implement; operator commands
// look for them and say "not supported by type X" otherwise.

// Tester is a sink that can check its receiver, e.g. the test of a webhook
// endpoint with the right token (expect 2xx) and a wrong one (expect
// 401). `tributary webhook test` calls it.
type Tester interface {
	Test(ctx context.Context) (TestResult, error)
}

// TestResult is the outcome of Tester.Test: one line per check.
type TestResult struct {
	Checks []Check `json:"checks"`
}

// OK reports whether every check passed.
func (r TestResult) OK() bool {
	return len(r.Checks) > 0 && !slices.ContainsFunc(r.Checks, func(c Check) bool { return !c.OK })
}

// Check is one step of a test, e.g. "right token → 200".
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Discarder is a source whose provider can drop everything pending, e.g. the
// batch feed's discardAll. `tributary feed discard` calls it.
type Discarder interface {
	DiscardAll(ctx context.Context, req DiscardRequest) (DiscardResult, error)
}

// DiscardRequest carries the operator's confirmation down to the source,
// whose own guard checks it again, and what the source should log.
type DiscardRequest struct {
	// Confirm is the operator's --yes; without it nothing is discarded.
	Confirm bool
	// Reason and Operator go into the source's log, for the record.
	Reason, Operator string
}

// DiscardResult says what DiscardAll dropped; Count is -1 when the provider
// does not say.
type DiscardResult struct {
	Count  int    `json:"count"`
	Detail string `json:"detail,omitempty"`
}
