package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EndpointState is whether a webhook endpoint receives deliveries.
type EndpointState string

const (
	// EndpointEnabled: deliveries go out.
	EndpointEnabled EndpointState = "enabled"
	// EndpointDisabled: nothing is sent; every message is poisoned
	// (replayable once the endpoint is enabled again).
	EndpointDisabled EndpointState = "disabled"
)

// Endpoint is one row of tributary_endpoints: a webhook sink's endpoint
// state, shared by every instance (package sinks/webhook). It holds no
// secret: Endpoint is the URL without user info, query values replaced.
type Endpoint struct {
	Pipeline  string        `json:"pipeline"`
	Sink      string        `json:"sink"`
	Endpoint  string        `json:"endpoint"`
	State     EndpointState `json:"state"`
	Reason    string        `json:"reason,omitempty"`
	ChangedAt time.Time     `json:"changed_at"`
	ChangedBy string        `json:"changed_by,omitempty"`
}

const endpointColumns = `pipeline, sink, endpoint, state, reason, changed_at, changed_by`

var scanEndpoint = pgx.RowToStructByPos[Endpoint]

// RegisterEndpoint returns the state of (pipeline, sink), registering url
// as enabled when nothing is stored yet. An enabled row takes url as its
// URL (the sink's configuration may have changed); a disabled one is left
// as it is, so the operator sees which URL answered 410.
func RegisterEndpoint(ctx context.Context, db DB, pipeline, sink, url string) (Endpoint, error) {
	e, err := queryOne(ctx, db, scanEndpoint, `
		INSERT INTO tributary_endpoints (pipeline, sink, endpoint, state, changed_by)
		VALUES ($1, $2, $3, 'enabled', 'registered by the sink')
		ON CONFLICT (pipeline, sink) DO UPDATE SET endpoint = EXCLUDED.endpoint
			WHERE tributary_endpoints.state = 'enabled' AND tributary_endpoints.endpoint <> EXCLUDED.endpoint
		RETURNING `+endpointColumns, pipeline, sink, url)
	if errors.Is(err, pgx.ErrNoRows) { // a row that needed no update
		e, err = GetEndpoint(ctx, db, pipeline, sink)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint state: load %s/%s: %w", pipeline, sink, err)
	}
	return e, nil
}

// GetEndpoint returns the state of (pipeline, sink); ErrNotFound (wrapped)
// when none is stored.
func GetEndpoint(ctx context.Context, db DB, pipeline, sink string) (Endpoint, error) {
	e, err := queryOne(ctx, db, scanEndpoint, `SELECT `+endpointColumns+` FROM tributary_endpoints
		WHERE pipeline = $1 AND sink = $2`, pipeline, sink)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint state: get %s/%s: %w", pipeline, sink, noRows(err))
	}
	return e, nil
}

// PutEndpoint stores e, whether or not anything was stored before.
func PutEndpoint(ctx context.Context, db DB, e Endpoint) error {
	if e.State != EndpointEnabled && e.State != EndpointDisabled {
		return fmt.Errorf("endpoint state: %q: want enabled or disabled", e.State)
	}
	_, err := db.Exec(ctx, `
		INSERT INTO tributary_endpoints (pipeline, sink, endpoint, state, reason, changed_at, changed_by)
		VALUES ($1, $2, $3, $4, $5, now(), $6)
		ON CONFLICT (pipeline, sink) DO UPDATE SET endpoint = EXCLUDED.endpoint, state = EXCLUDED.state,
			reason = EXCLUDED.reason, changed_at = now(), changed_by = EXCLUDED.changed_by`,
		e.Pipeline, e.Sink, e.Endpoint, string(e.State), Text(e.Reason), Text(e.ChangedBy))
	if err != nil {
		return fmt.Errorf("endpoint state: set %s/%s: %w", e.Pipeline, e.Sink, err)
	}
	return nil
}

// SetEndpointState changes the state of a registered endpoint; by names who
// did it. ErrNotFound (wrapped) when none is registered.
func SetEndpointState(ctx context.Context, db DB, pipeline, sink string, state EndpointState, reason, by string) (Endpoint, error) {
	e, err := queryOne(ctx, db, scanEndpoint, `
		UPDATE tributary_endpoints SET state = $3, reason = $4, changed_at = now(), changed_by = $5
		WHERE pipeline = $1 AND sink = $2
		RETURNING `+endpointColumns, pipeline, sink, string(state), Text(reason), Text(by))
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint state: %s %s/%s: %w", state, pipeline, sink, noRows(err))
	}
	return e, nil
}

// EndpointFilter selects endpoints; zero fields match everything.
type EndpointFilter struct {
	Pipeline, Sink string
	State          EndpointState
}

// Endpoints returns the stored endpoints f selects, by pipeline and sink.
func Endpoints(ctx context.Context, db DB, f EndpointFilter) ([]Endpoint, error) {
	out, err := query(ctx, db, scanEndpoint, `SELECT `+endpointColumns+` FROM tributary_endpoints
		WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2) AND ($3 = '' OR state = $3)
		ORDER BY pipeline, sink`, f.Pipeline, f.Sink, string(f.State))
	if err != nil {
		return nil, fmt.Errorf("endpoint state: list: %w", err)
	}
	return out, nil
}
