package store

import (
	"context"
	"fmt"
)

// Consumer groups (tributary_consumers: a sink's position in its pipeline's
// topic) are advanced by the Postgres topic consumers (router/pgtopic);
// these are the other statements on them.

// CreateConsumer creates topic's consumer group, if it does not exist, at
// the start of the topic: created before anything is ingested, a sink that
// starts late still gets every event.
func CreateConsumer(ctx context.Context, db DB, topic, group string) error {
	if _, err := db.Exec(ctx, `INSERT INTO tributary_consumers (topic, consumer_group) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, topic, group); err != nil {
		return fmt.Errorf("consumer group %q of %s: %w", group, topic, err)
	}
	return nil
}

// ConsumerExists reports whether topic has consumer group (group "": any).
func ConsumerExists(ctx context.Context, db DB, topic, group string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tributary_consumers
		WHERE topic = $1 AND ($2 = '' OR consumer_group = $2))`, topic, group).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("consumer groups of %s: %w", topic, err)
	}
	return ok, nil
}

// UnfileLanes hands the events a sink filed into lanes while it was ordered
// back to its consumer group, now that it is not: the group's position moves
// back to before the oldest of them (what lies between is delivered again),
// and its lanes are dropped (an instance still working them is fenced out).
func UnfileLanes(ctx context.Context, db DB, topic, group string) error {
	_, err := db.Exec(ctx, `
		WITH gone AS (DELETE FROM tributary_lane_events WHERE topic = $1 AND consumer_group = $2 RETURNING "offset"),
		lanes AS (DELETE FROM tributary_lanes WHERE topic = $1 AND consumer_group = $2)
		UPDATE tributary_consumers SET position = LEAST(position, (SELECT min("offset") - 1 FROM gone))
		WHERE topic = $1 AND consumer_group = $2 AND EXISTS (SELECT 1 FROM gone)`, topic, group)
	if err != nil {
		return fmt.Errorf("unfile lanes: %w", err)
	}
	return nil
}
