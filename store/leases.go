package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leadership (package router/leader) keeps a row per led task in
// tributary_leases, whose fence only grows, and a row per instance in
// tributary_instances, heartbeated. Every statement that changes a lease is
// fenced: it applies only to the owner at the fence it holds.

// LeaseChannel is the LISTEN/NOTIFY channel on which lease changes are
// announced (a released lease's name, or "" for an instance that joined).
const LeaseChannel = "tributary_leases"

// Lease is one row of tributary_leases.
type Lease struct {
	Name       string    `json:"name"`
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Expired (expires_at has passed) leases wait for a live instance to
	// take them over.
	Expired bool  `json:"expired"`
	Fence   int64 `json:"fence"`
}

// Instance is one row of tributary_instances: a registered instance.
type Instance struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// Live is false once the heartbeat is older than the lease TTL (the
	// instance died without deregistering).
	Live bool `json:"live"`
	// Leads lists the leases it holds, unexpired (filled by
	// leader.ReadStatus, not a column).
	Leads []string `json:"leads" db:"-"`
}

// HeartbeatInstance registers instance id (competing for the leases
// names) or renews its registration, for ttl.
func HeartbeatInstance(ctx context.Context, db DB, id, host string, pid int, ttl time.Duration, names []string) error {
	if _, err := db.Exec(ctx, `INSERT INTO tributary_instances (id, host, pid, expires_at, leases)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = excluded.expires_at`,
		id, host, pid, ttl.Seconds(), names); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// DeleteInstance deregisters instance id.
func DeleteInstance(ctx context.Context, db DB, id string) error {
	if _, err := db.Exec(ctx, `DELETE FROM tributary_instances WHERE id = $1`, id); err != nil {
		return fmt.Errorf("deregister instance: %w", err)
	}
	return nil
}

// AnnounceLeases wakes every instance listening on LeaseChannel.
func AnnounceLeases(ctx context.Context, db DB) error {
	_, err := db.Exec(ctx, `SELECT pg_notify('`+LeaseChannel+`', '')`)
	return err
}

// RenewLeases extends, for ttl, each lease names[i] that owner still holds
// at fences[i], and returns the names it extended.
func RenewLeases(ctx context.Context, db DB, owner string, names []string, fences []int64, ttl time.Duration) ([]string, error) {
	renewed, err := query(ctx, db, pgx.RowTo[string], `UPDATE tributary_leases l SET renewed_at = now(),
		expires_at = now() + make_interval(secs => $4)
		FROM unnest($2::text[], $3::bigint[]) AS h(name, fence)
		WHERE l.owner = $1 AND l.name = h.name AND l.fence = h.fence RETURNING l.name`,
		owner, names, fences, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	return renewed, nil
}

// ReleaseLeases frees each lease names[i] that owner still holds at
// fences[i] (the row stays, with its fence), and announces each freed one
// on LeaseChannel.
func ReleaseLeases(ctx context.Context, db DB, owner string, names []string, fences []int64) error {
	_, err := db.Exec(ctx, `WITH d AS (UPDATE tributary_leases l SET owner = '', expires_at = now()
			FROM unnest($2::text[], $3::bigint[]) AS h(name, fence)
			WHERE l.owner = $1 AND l.name = h.name AND l.fence = h.fence RETURNING l.name)
		SELECT pg_notify('`+LeaseChannel+`', name) FROM d`, owner, names, fences)
	return err
}

// LeaseLoads returns, for every live instance competing for any of names,
// how many of them it holds unexpired (0 included).
func LeaseLoads(ctx context.Context, db DB, names []string) (map[string]int, error) {
	rows, err := db.Query(ctx, `SELECT i.id, count(l.name) FROM tributary_instances i
		LEFT JOIN tributary_leases l ON l.owner = i.id AND l.expires_at > now() AND l.name = ANY($1)
		WHERE i.expires_at > now() AND i.leases && $1 GROUP BY i.id`, names)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		counts[id] = n
		return nil
	})
	return counts, err
}

// AcquireLease takes lease name for owner, for ttl, and returns its new
// fence and the owner before (” when it was released, or is new); ok is
// false when it is not free. A lease is free when it expired and its fence
// moved past settled (another instance took it since this one handed it
// over at settled), or when owner holds it at a fence past mine (a
// restarted process with the same id takes its old rows at once).
func AcquireLease(ctx context.Context, db DB, name, owner string, ttl time.Duration, mine, settled int64) (fence int64, prev string, ok bool, err error) {
	err = db.QueryRow(ctx, `WITH before AS (SELECT owner FROM tributary_leases WHERE name = $1)
		INSERT INTO tributary_leases (name, owner, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, acquired_at = now(), renewed_at = now(),
			expires_at = excluded.expires_at, fence = tributary_leases.fence + 1
		WHERE (tributary_leases.expires_at <= now() AND tributary_leases.fence > $5)
			OR (tributary_leases.owner = excluded.owner AND tributary_leases.fence > $4)
		RETURNING fence, coalesce((SELECT owner FROM before), '')`,
		name, owner, ttl.Seconds(), mine, settled).Scan(&fence, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	return fence, prev, true, nil
}

// Leases returns every lease, by name.
func Leases(ctx context.Context, db DB) ([]Lease, error) {
	out, err := query(ctx, db, pgx.RowToStructByPos[Lease], `SELECT name, owner, acquired_at, expires_at, expires_at <= now(), fence
		FROM tributary_leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	return out, nil
}

// Instances returns the instances registered, oldest first; those gone for
// more than a day are not listed.
func Instances(ctx context.Context, db DB) ([]Instance, error) {
	out, err := query(ctx, db, pgx.RowToStructByPos[Instance], `SELECT id, host, pid, started_at, heartbeat_at, expires_at > now()
		FROM tributary_instances WHERE heartbeat_at > now() - interval '1 day' ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	return out, nil
}
