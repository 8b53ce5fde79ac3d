package webhook

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// Outcome classifies an attempt in the delivery log (package deliverylog).
type Outcome = deliverylog.Outcome

const (
	// OutcomeSuccess: the receiver answered 2xx.
	OutcomeSuccess = deliverylog.OutcomeSuccess
	// OutcomeTransient: 3xx, 408, 429, 5xx, a timeout or a connection error; retried.
	OutcomeTransient = deliverylog.OutcomeTransient
	// OutcomePermanent: another 4xx, or an address the SSRF guard refused; poisoned.
	OutcomePermanent = deliverylog.OutcomePermanent
	// OutcomeGone: the receiver answered 410; the endpoint is now disabled.
	OutcomeGone Outcome = "gone"
	// OutcomeDisabled: not sent, the endpoint is disabled.
	OutcomeDisabled Outcome = "disabled"
	// OutcomeCircuitOpen: not sent, the breaker is open.
	OutcomeCircuitOpen Outcome = "circuit_open"
)

// Outcomes returns every outcome a sink writes to the delivery log, in the
// order above: the webhook sink's and, with the same meanings, the
// socketcommand and cmd/tributary http sinks' (success, transient,
// permanent). `tributary deliveries list --outcome` accepts exactly these.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSuccess, OutcomeTransient, OutcomePermanent, OutcomeGone, OutcomeDisabled, OutcomeCircuitOpen}
}

// Attempt is one row of the delivery log. The webhook sink redacts its
// endpoint and scrubs error and body of the configured secrets.
type Attempt = deliverylog.Attempt

// DeliveryLog records attempts (deliverylog.Recorder).
type DeliveryLog = deliverylog.Recorder

// PostgresLog is the delivery log in table tributary_delivery_attempts.
type PostgresLog = deliverylog.Postgres

// Filter selects attempts; see deliverylog.Filter.
type Filter = deliverylog.Filter

// NewPostgresLog returns the delivery log in pool's database (migrated with
// package migrations); it is deliverylog.NewPostgres.
func NewPostgresLog(pool *pgxpool.Pool) *PostgresLog { return deliverylog.NewPostgres(pool) }
