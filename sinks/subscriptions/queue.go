package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/routing"
)

// The queue: one tributary_subscription_events row per event the sink fanned
// out and one tributary_subscription_deliveries row per (event, endpoint).
// Its SQL lives here, with the endpoints' (store.go).

// DeliveryState is where a queued delivery stands.
type DeliveryState string

const (
	// StatePending: waiting for its attempt (next_at) or under way.
	StatePending DeliveryState = "pending"
	// StateDelivered: the endpoint answered 2xx.
	StateDelivered DeliveryState = "delivered"
	// StatePoisoned: given up (a permanent error, a 410, or the schedule
	// exhausted); Replay queues it again.
	StatePoisoned DeliveryState = "poisoned"
)

// event is what Publish fans out.
type event struct {
	uuid, id, typ, tenant string
	payload               []byte
	metadata              map[string]string
}

// fanOut stores ev and one pending delivery per endpoint id, in one
// transaction. An event already stored (the topic delivered the message
// again after a crash) is not fanned out again: its deliveries were committed
// with it. It returns how many deliveries it queued.
func (s *Store) fanOut(ctx context.Context, pipeline, sink string, ev event, endpoints []string) (int, error) {
	meta, _ := json.Marshal(ev.metadata)
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO tributary_subscription_events (pipeline, sink, message_uuid, event_id, event_type, tenant, payload, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (pipeline, sink, message_uuid) DO NOTHING RETURNING id`,
			pipeline, sink, text(ev.uuid), text(ev.id), text(ev.typ), text(ev.tenant), ev.payload, meta).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // fanned out before
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO tributary_subscription_deliveries (event, endpoint_id, sink_key)
			SELECT $1, e, $3 FROM unnest($2::text[]) AS e
			ON CONFLICT DO NOTHING`, id, endpoints, sinkKey(pipeline, sink))
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, workPrefix+sinkKey(pipeline, sink))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("subscriptions: fan out event %s: %w", ev.id, err)
	}
	return n, nil
}

// workPrefix marks a notification that deliveries were queued.
const workPrefix = "work:"

// claimed is one delivery a dispatcher took.
type claimed struct {
	id         int64
	endpointID string
	attempts   int
	uuid       string
	eventID    string
	payload    []byte
	metadata   map[string]string
}

// claim takes up to limit due deliveries of the sink, leaving out the
// endpoints in skip and taking no more than room(endpoint) of any endpoint's
// (a hung endpoint's backlog stays in the table for another instance, or for
// later). Each taken row's next_at moves lease ahead: if this process dies,
// it comes due again then. The rows are locked only within this short
// transaction (SKIP LOCKED: instances never wait for each other).
func (s *Store) claim(ctx context.Context, key string, skip []string, limit int, lease time.Duration,
	room func(endpoint string) int) ([]claimed, error) {
	var out []claimed
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, endpoint_id FROM tributary_subscription_deliveries
			WHERE sink_key = $1 AND state = 'pending' AND next_at <= now() AND NOT (endpoint_id = ANY($2))
			ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED`, key, skip, limit)
		if err != nil {
			return err
		}
		taken := map[string]int{}
		var ids []int64
		var id int64
		var ep string
		_, err = pgx.ForEachRow(rows, []any{&id, &ep}, func() error {
			if taken[ep] < room(ep) {
				taken[ep]++
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		rows, err = tx.Query(ctx, `
			UPDATE tributary_subscription_deliveries d SET next_at = now() + $2::interval
			FROM tributary_subscription_events e
			WHERE d.id = ANY($1) AND e.id = d.event
			RETURNING d.id, d.endpoint_id, d.attempts, e.message_uuid, e.event_id, e.payload, e.metadata`, ids, lease)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := r.Scan(&c.id, &c.endpointID, &c.attempts, &c.uuid, &c.eventID, &c.payload, &c.metadata)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions: claim: %w", err)
	}
	return out, nil
}

// outcome records one attempt's result: delivered, poisoned, or due again at
// next (state pending). attempted is false for a delivery handed back
// unattempted (a clean stop, a disabled endpoint).
func (s *Store) outcome(ctx context.Context, id int64, state DeliveryState, next time.Duration, errText string, attempted bool) error {
	inc := 0
	if attempted {
		inc = 1
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE tributary_subscription_deliveries SET state = $2, next_at = now() + $3::interval,
			attempts = attempts + $4, last_error = $5, updated_at = now()
		WHERE id = $1`, id, string(state), next, inc, text(errText))
	if err != nil {
		return fmt.Errorf("subscriptions: record delivery %d: %w", id, err)
	}
	return nil
}

// purge deletes finished deliveries and events older than retain.
func (s *Store) purge(ctx context.Context, pipeline, sink string, retain time.Duration) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM tributary_subscription_deliveries WHERE sink_key = $1 AND state <> 'pending'
			AND updated_at < now() - $2::interval`, sinkKey(pipeline, sink), retain)
	if err == nil {
		// A fan-out racing an endpoint's removal (its index not yet
		// reloaded) may leave rows for an endpoint that is gone.
		_, err = s.pool.Exec(ctx, `
			DELETE FROM tributary_subscription_deliveries d WHERE sink_key = $1
				AND NOT EXISTS (SELECT 1 FROM tributary_subscription_endpoints e WHERE e.id = d.endpoint_id)`,
			sinkKey(pipeline, sink))
	}
	if err == nil {
		_, err = s.pool.Exec(ctx, `
			DELETE FROM tributary_subscription_events e WHERE pipeline = $1 AND sink = $2
				AND created_at < now() - $3::interval
				AND NOT EXISTS (SELECT 1 FROM tributary_subscription_deliveries d WHERE d.event = e.id)`,
			pipeline, sink, retain)
	}
	if err != nil {
		return fmt.Errorf("subscriptions: purge: %w", err)
	}
	return nil
}

// Delivery is one row of an endpoint's queue, as the operator sees it.
type Delivery struct {
	ID        int64         `json:"id"`
	EventID   string        `json:"event_id"`
	EventType string        `json:"event_type,omitempty"`
	State     DeliveryState `json:"state"`
	Attempts  int           `json:"attempts"`
	NextAt    time.Time     `json:"next_at"`
	LastError string        `json:"last_error,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// QueueFilter selects an endpoint's deliveries; an empty State matches all.
type QueueFilter struct {
	State DeliveryState
	// Limit caps the result; 100 when zero.
	Limit int
}

// Queue returns endpoint id's deliveries, newest first.
func (s *Store) Queue(ctx context.Context, id string, f QueueFilter) ([]Delivery, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, e.event_id, e.event_type, d.state, d.attempts, d.next_at, d.last_error, e.created_at, d.updated_at
		FROM tributary_subscription_deliveries d JOIN tributary_subscription_events e ON e.id = d.event
		WHERE d.endpoint_id = $1 AND ($2 = '' OR d.state = $2)
		ORDER BY d.id DESC LIMIT $3`, id, string(f.State), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: queue of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Delivery])
	if err != nil {
		return nil, fmt.Errorf("subscriptions: queue of %s: %w", id, err)
	}
	return out, nil
}

// Counts returns how many of endpoint id's deliveries are in each state.
func (s *Store) Counts(ctx context.Context, id string) (map[DeliveryState]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM tributary_subscription_deliveries
		WHERE endpoint_id = $1 GROUP BY state`, id)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: counts of %s: %w", id, err)
	}
	out := map[DeliveryState]int{StatePending: 0, StateDelivered: 0, StatePoisoned: 0}
	var st string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error { out[DeliveryState(st)] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("subscriptions: counts of %s: %w", id, err)
	}
	return out, nil
}

// Replay queues endpoint id's deliveries again: the poisoned ones, and, when
// since is set, every event the sink fanned out since then that the endpoint
// subscribes to now (those from before it existed included, as long as the
// sink's retention keeps them). It returns how many it queued.
func (s *Store) Replay(ctx context.Context, id string, since time.Time) (int, error) {
	ep, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	n := 0
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tributary_subscription_deliveries SET state = 'pending', attempts = 0,
			next_at = now(), last_error = '', updated_at = now() WHERE endpoint_id = $1 AND state = 'poisoned'`, id)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if since.IsZero() {
			return nil
		}
		types, err := routing.CompileTypes(ep.Types...)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, event_type, tenant FROM tributary_subscription_events
			WHERE pipeline = $1 AND sink = $2 AND created_at >= $3 ORDER BY id`, ep.Pipeline, ep.Sink, since)
		if err != nil {
			return err
		}
		var ids []int64
		var eid int64
		var typ, tenant string
		_, err = pgx.ForEachRow(rows, []any{&eid, &typ, &tenant}, func() error {
			if (ep.Tenant == "" || ep.Tenant == tenant) && types.MatchType(typ) {
				ids = append(ids, eid)
			}
			return nil
		})
		if err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, `
			INSERT INTO tributary_subscription_deliveries (event, endpoint_id, sink_key)
			SELECT e, $2, $3 FROM unnest($1::bigint[]) AS e
			ON CONFLICT (event, endpoint_id) DO UPDATE SET state = 'pending', attempts = 0, next_at = now(),
				last_error = '', updated_at = now()
			WHERE tributary_subscription_deliveries.state <> 'pending'`, ids, id, sinkKey(ep.Pipeline, ep.Sink))
		n += int(tag.RowsAffected())
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, workPrefix+sinkKey(ep.Pipeline, ep.Sink))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("subscriptions: replay %s: %w", id, err)
	}
	return n, nil
}
