package webhook

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// Outcome classifies an attempt in the delivery log; the values and their
// meanings are deliverylog's (deliverylog.Outcomes lists them all).
type Outcome = deliverylog.Outcome

// The outcomes this sink writes, named here for its users' convenience.
const (
	OutcomeSuccess     = deliverylog.OutcomeSuccess
	OutcomeTransient   = deliverylog.OutcomeTransient
	OutcomePermanent   = deliverylog.OutcomePermanent
	OutcomeGone        = deliverylog.OutcomeGone
	OutcomeDisabled    = deliverylog.OutcomeDisabled
	OutcomeCircuitOpen = deliverylog.OutcomeCircuitOpen
)

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
