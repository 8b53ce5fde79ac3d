package leader

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Instance is one registered instance.
type Instance struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// Live is false once the heartbeat is older than the lease TTL (the
	// instance died without deregistering).
	Live bool `json:"live"`
	// Leads lists the leases (pipeline/source) it holds.
	Leads []string `json:"leads"`
}

// Lease is one source's lease.
type Lease struct {
	Name       string    `json:"name"`
	Owner      string    `json:"owner"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Expired leases wait for a live instance to take them over.
	Expired bool  `json:"expired"`
	Fence   int64 `json:"fence"`
}

// Status is what the database says about the instances and the leases.
type Status struct {
	Instances []Instance `json:"instances"`
	Leases    []Lease    `json:"leases"`
}

// Leader returns the live owner of a lease, "" when none.
func (s Status) Leader(name string) string {
	for _, l := range s.Leases {
		if l.Name == name && !l.Expired {
			return l.Owner
		}
	}
	return ""
}

// ReadStatus reads the instance registry and the leases. Instances gone
// for more than a day are not listed.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	var st Status
	rows, err := pool.Query(ctx, `SELECT name, owner, acquired_at, expires_at, expires_at <= now(), fence
		FROM tributary_leases ORDER BY name`)
	if err != nil {
		return st, fmt.Errorf("leases: %w", err)
	}
	st.Leases, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		var l Lease
		err := r.Scan(&l.Name, &l.Owner, &l.AcquiredAt, &l.ExpiresAt, &l.Expired, &l.Fence)
		return l, err
	})
	if err != nil {
		return st, fmt.Errorf("leases: %w", err)
	}
	rows, err = pool.Query(ctx, `SELECT id, host, pid, started_at, heartbeat_at, expires_at > now()
		FROM tributary_instances WHERE heartbeat_at > now() - interval '1 day' ORDER BY started_at, id`)
	if err != nil {
		return st, fmt.Errorf("instances: %w", err)
	}
	st.Instances, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) {
		var i Instance
		err := r.Scan(&i.ID, &i.Host, &i.PID, &i.StartedAt, &i.HeartbeatAt, &i.Live)
		return i, err
	})
	if err != nil {
		return st, fmt.Errorf("instances: %w", err)
	}
	for i := range st.Instances {
		st.Instances[i].Leads = []string{}
		for _, l := range st.Leases {
			if l.Owner == st.Instances[i].ID && !l.Expired {
				st.Instances[i].Leads = append(st.Instances[i].Leads, l.Name)
			}
		}
	}
	return st, nil
}
