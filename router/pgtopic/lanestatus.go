package pgtopic

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LaneState is one lane of an ordered consumer group.
type LaneState struct {
	Topic string `json:"topic"`
	Group string `json:"consumer_group"`
	Lane  int    `json:"lane"`
	// Owner holds the lane ("" when free): the owner id of a
	// LaneSubscriber, which the router makes "<instance>/<random>".
	Owner string `json:"owner"`
	Epoch int64  `json:"epoch"`
	// ExpiresAt is when the holder's lease runs out; nil when free.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Pending is how many events wait in the lane.
	Pending int `json:"pending"`
}

// HeldKey is a key held back by a failed delivery, with its oldest waiting
// event.
type HeldKey struct {
	Topic     string    `json:"topic"`
	Group     string    `json:"consumer_group"`
	Key       string    `json:"key"`
	Lane      int       `json:"lane"`
	Offset    int64     `json:"offset"`
	UUID      string    `json:"message_uuid"`
	StoredAt  time.Time `json:"stored_at"`
	Attempts  int       `json:"attempts"`
	RetryAt   time.Time `json:"retry_at"`
	LastError string    `json:"last_error"`
	// Waiting is how many events of the key wait, the held one included.
	Waiting int `json:"waiting"`
}

// LaneStatus is what the database says about every ordered group's lanes.
type LaneStatus struct {
	Lanes []LaneState `json:"lanes"`
	Held  []HeldKey   `json:"held_keys"`
}

// ReadLanes reads every lane of every ordered group, and the held keys
// (at most 1,000, the longest held first).
func ReadLanes(ctx context.Context, db Executor) (LaneStatus, error) {
	var st LaneStatus
	rows, err := db.Query(ctx, `
		SELECT l.topic, l.consumer_group, l.lane, CASE WHEN l.expires_at > now() THEN l.owner ELSE '' END, l.epoch,
			CASE WHEN l.expires_at > now() THEN l.expires_at END, (SELECT count(*) FROM tributary_lane_events e
				WHERE e.topic = l.topic AND e.consumer_group = l.consumer_group AND e.lane = l.lane)
		FROM tributary_lanes l ORDER BY l.topic, l.consumer_group, l.lane`)
	if err != nil {
		return st, fmt.Errorf("pgtopic: lanes: %w", err)
	}
	st.Lanes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[LaneState])
	if err != nil {
		return st, fmt.Errorf("pgtopic: lanes: %w", err)
	}
	rows, err = db.Query(ctx, `
		SELECT e.topic, e.consumer_group, e.key, e.lane, e."offset", m.uuid, m.created_at, e.attempts, e.retry_at,
			coalesce(e.state->>'tributary_last_error', ''),
			(SELECT count(*) FROM tributary_lane_events w
				WHERE w.topic = e.topic AND w.consumer_group = e.consumer_group AND w.key = e.key)
		FROM tributary_lane_events e JOIN tributary_messages m ON m.topic = e.topic AND m."offset" = e."offset"
		WHERE e.retry_at IS NOT NULL AND e.key IS NOT NULL
		ORDER BY m.created_at LIMIT 1000`)
	if err != nil {
		return st, fmt.Errorf("pgtopic: held keys: %w", err)
	}
	st.Held, err = pgx.CollectRows(rows, pgx.RowToStructByPos[HeldKey])
	if err != nil {
		return st, fmt.Errorf("pgtopic: held keys: %w", err)
	}
	return st, nil
}
