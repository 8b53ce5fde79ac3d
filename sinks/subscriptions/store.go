package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
)

// Channel is the LISTEN/NOTIFY channel on which every endpoint change is
// announced (payload "pipeline/sink"). Notifications only wake the sinks
// early: they also poll tributary_subscription_versions.
const Channel = "tributary_subscriptions"

// ErrNotFound is returned for an endpoint id that is not stored.
var ErrNotFound = errors.New("subscriptions: no such endpoint")

// Store is the endpoints' table (and the queue tables, queue.go): the one
// place their SQL lives. The CLI, the admin API and the sink all go through
// it. Every change bumps the sink's version and notifies Channel in the
// same transaction, so each running sink applies it within a second or two.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewStore returns the endpoints in pool's database (migrated with package
// migrations).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, now: time.Now} }

const endpointColumns = `id, pipeline, sink, tenant, description, url, method, types, token, token_header,
	basic_username, basic_password, secrets, headers, rate_limit, enabled, disabled_reason, created_at, updated_at,
	updated_by, version`

// scanEndpoint reads the one row of a query for endpointColumns, which are
// Endpoint's fields in order.
func scanEndpoint(rows pgx.Rows, err error) (Endpoint, error) {
	if err != nil {
		return Endpoint{}, err
	}
	return pgx.CollectOneRow(rows, pgx.RowToStructByPos[Endpoint])
}

// Create stores a new endpoint (its ID generated when empty), enabled: it
// receives the events fanned out once the sink has seen it (within a second
// or two on every instance), none from before.
func (s *Store) Create(ctx context.Context, e Endpoint, by string) (Endpoint, error) {
	e.setDefaults()
	e.Enabled, e.DisabledReason = true, ""
	if err := e.Validate(); err != nil {
		return Endpoint{}, err
	}
	var out Endpoint
	err := s.change(ctx, e.Pipeline, e.Sink, func(tx pgx.Tx) error {
		secrets, headers := marshal(e.Secrets, e.Headers)
		var err error
		out, err = scanEndpoint(tx.Query(ctx, `
			INSERT INTO tributary_subscription_endpoints (id, pipeline, sink, tenant, description, url, method, types,
				token, token_header, basic_username, basic_password, secrets, headers, rate_limit, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			RETURNING `+endpointColumns,
			e.ID, e.Pipeline, e.Sink, e.Tenant, e.Description, e.URL, e.Method, e.Types, e.Token, e.TokenHeader,
			e.BasicUsername, e.BasicPassword, secrets, headers, e.RateLimit, by))
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: id: %q is taken", ErrInvalid, e.ID)
		}
		return err
	})
	if err != nil {
		return Endpoint{}, err
	}
	return out, nil
}

// Patch changes some of an endpoint's fields: nil ones are kept.
type Patch struct {
	Tenant         *string            `json:"tenant"`
	Description    *string            `json:"description"`
	URL            *string            `json:"url"`
	Method         *string            `json:"method"`
	Types          *[]string          `json:"types"`
	Token          *string            `json:"token"`
	TokenHeader    *string            `json:"token_header"`
	BasicUsername  *string            `json:"basic_username"`
	BasicPassword  *string            `json:"basic_password"`
	Secrets        *[]Secret          `json:"secrets"`
	Headers        *map[string]string `json:"headers"`
	RateLimit      *float64           `json:"rate_limit"`
	Enabled        *bool              `json:"enabled"`
	DisabledReason *string            `json:"disabled_reason"`
}

// Apply sets e's fields that p sets.
func (p Patch) Apply(e *Endpoint) {
	set(&e.Tenant, p.Tenant)
	set(&e.Description, p.Description)
	set(&e.URL, p.URL)
	set(&e.Method, p.Method)
	set(&e.Token, p.Token)
	set(&e.TokenHeader, p.TokenHeader)
	set(&e.BasicUsername, p.BasicUsername)
	set(&e.BasicPassword, p.BasicPassword)
	set(&e.DisabledReason, p.DisabledReason)
	set(&e.Types, p.Types)
	set(&e.Secrets, p.Secrets)
	set(&e.Headers, p.Headers)
	set(&e.RateLimit, p.RateLimit)
	set(&e.Enabled, p.Enabled)
	if p.Enabled != nil && e.Enabled {
		e.DisabledReason = ""
	}
}

// set stores *v in *dst unless v is nil.
func set[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Update applies patch to endpoint id and stores it, validated.
func (s *Store) Update(ctx context.Context, id string, patch Patch, by string) (Endpoint, error) {
	return s.modify(ctx, id, by, func(e *Endpoint) error {
		patch.Apply(e)
		e.setDefaults()
		return e.Validate()
	})
}

// SetEnabled enables or disables endpoint id. A disabled endpoint is sent
// nothing: its queued deliveries wait (they are not dropped), and events
// fanned out while it is disabled are not queued for it — Replay with a time
// sends them once it is enabled again.
func (s *Store) SetEnabled(ctx context.Context, id string, enabled bool, reason, by string) (Endpoint, error) {
	return s.Update(ctx, id, Patch{Enabled: &enabled, DisabledReason: &reason}, by)
}

// Rotate adds secret (a new one when empty) as the endpoint's first and
// gives every older secret that has no earlier expiry one at now+overlap:
// requests are signed with all of them until then, so the receiver can
// switch at its pace.
func (s *Store) Rotate(ctx context.Context, id, secret string, overlap time.Duration, by string) (Endpoint, error) {
	if secret == "" {
		secret = NewSecret()
	}
	return s.modify(ctx, id, by, func(e *Endpoint) error {
		until := s.now().Add(overlap).UTC()
		next := []Secret{{Secret: secret}}
		for _, old := range e.Secrets {
			if old.ExpiresAt != nil && !old.ExpiresAt.After(s.now()) {
				continue // expired: dropped
			}
			if old.ExpiresAt == nil || old.ExpiresAt.After(until) {
				old.ExpiresAt = &until
			}
			next = append(next, old)
		}
		e.Secrets = next
		return e.Validate()
	})
}

// modify reads endpoint id for update, lets change edit it and stores it.
func (s *Store) modify(ctx context.Context, id, by string, change func(*Endpoint) error) (Endpoint, error) {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	var out Endpoint
	err = s.change(ctx, cur.Pipeline, cur.Sink, func(tx pgx.Tx) error {
		e, err := scanEndpoint(tx.Query(ctx, `SELECT `+endpointColumns+` FROM tributary_subscription_endpoints
			WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		pipeline, sink := e.Pipeline, e.Sink
		if err := change(&e); err != nil {
			return err
		}
		e.Pipeline, e.Sink, e.ID = pipeline, sink, id // an endpoint does not move
		secrets, headers := marshal(e.Secrets, e.Headers)
		out, err = scanEndpoint(tx.Query(ctx, `
			UPDATE tributary_subscription_endpoints SET tenant = $2, description = $3, url = $4, method = $5,
				types = $6, token = $7, token_header = $8, basic_username = $9, basic_password = $10, secrets = $11,
				headers = $12, rate_limit = $13, enabled = $14, disabled_reason = $15, updated_at = now(),
				updated_by = $16, version = version + 1
			WHERE id = $1 RETURNING `+endpointColumns,
			id, e.Tenant, e.Description, e.URL, e.Method, e.Types, e.Token, e.TokenHeader, e.BasicUsername,
			e.BasicPassword, secrets, headers, e.RateLimit, e.Enabled, e.DisabledReason, by))
		return err
	})
	return out, err
}

// Delete removes endpoint id with its queue and delivery rows.
func (s *Store) Delete(ctx context.Context, id string) error {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	return s.change(ctx, cur.Pipeline, cur.Sink, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tributary_subscription_endpoints WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err == nil {
			_, err = tx.Exec(ctx, `DELETE FROM tributary_subscription_deliveries WHERE endpoint_id = $1`, id)
		}
		return err
	})
}

// change runs fn in a transaction that also bumps the sink's version and
// notifies Channel.
func (s *Store) change(ctx context.Context, pipeline, sink string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO tributary_subscription_versions (pipeline, sink, version) VALUES ($1, $2, 1)
			ON CONFLICT (pipeline, sink) DO UPDATE SET version = tributary_subscription_versions.version + 1`,
			pipeline, sink)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, sinkKey(pipeline, sink))
		return err
	})
	if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("subscriptions: %w", err)
	}
	return err
}

// Get returns endpoint id.
func (s *Store) Get(ctx context.Context, id string) (Endpoint, error) {
	e, err := scanEndpoint(s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM tributary_subscription_endpoints
		WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("subscriptions: get %s: %w", id, err)
	}
	return e, nil
}

// Filter selects endpoints; zero fields match everything.
type Filter struct {
	Pipeline, Sink, Tenant string
}

// List returns the endpoints matching f, by pipeline, sink and id.
func (s *Store) List(ctx context.Context, f Filter) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM tributary_subscription_endpoints
		WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR sink = $2) AND ($3 = '' OR tenant = $3)
		ORDER BY pipeline, sink, id`, f.Pipeline, f.Sink, f.Tenant)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Endpoint])
	if err != nil {
		return nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	return out, nil
}

// version returns the sink's endpoint version (0 before any change).
func (s *Store) version(ctx context.Context, pipeline, sink string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM tributary_subscription_versions WHERE pipeline = $1 AND sink = $2`,
		pipeline, sink).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func marshal(secrets []Secret, headers map[string]string) ([]byte, []byte) {
	if secrets == nil {
		secrets = []Secret{}
	}
	if headers == nil {
		headers = map[string]string{}
	}
	s, _ := json.Marshal(secrets)
	h, _ := json.Marshal(headers)
	return s, h
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func sinkKey(pipeline, sink string) string { return pipeline + "/" + sink }

var text = deliverylog.Text
