package leader

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/store"
)

// Instance is one registered instance (a row of tributary_instances, with
// the leases it leads).
type Instance = store.Instance

// Lease is one source's lease (a row of tributary_leases).
type Lease = store.Lease

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
	var err error
	if st.Leases, err = store.Leases(ctx, pool); err != nil {
		return st, err
	}
	if st.Instances, err = store.Instances(ctx, pool); err != nil {
		return st, err
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
