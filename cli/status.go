package cli

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/leader"
	"github.com/tributary-dev/tributary/router/pgtopic"
)

// statusSource is one source of a pipeline file and who runs it.
type statusSource struct {
	Pipeline string `json:"pipeline"`
	Source   string `json:"source"`
	Type     string `json:"type"`
	// Leader is the instance running it; "" when none does now, "*" for a
	// source every instance runs (webhookin).
	Leader string `json:"leader"`
}

func (a *app) statusCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "status [-c pipeline.yaml]",
		Short: "Show the instances sharing the database and which one leads each source",
		Long: `Show the instances running on this database (id, host, pid, when started, last
heartbeat, the sources each leads) and the source leases. With -c, every source
of the file is listed with its leader, including sources no instance leads now
(after a crash, until its lease expires) and webhookin sources, which every
instance serves.`,
		Args: cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			var sources []statusSource
			if file != "" {
				cfg, err := a.loadConfig(file)
				if err != nil {
					return err
				}
				for _, p := range cfg.Pipelines {
					for i, s := range p.Template.Sources {
						sources = append(sources, statusSource{Pipeline: p.Template.Name, Source: s.Name, Type: p.SourceTypes[i].Type})
					}
				}
			}
			pool, err := a.openPool(cmd.Context(), 0)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := checkSchema(cmd.Context(), pool); err != nil {
				return err
			}
			st, err := leader.ReadStatus(cmd.Context(), pool)
			if err != nil {
				return dbError(err)
			}
			for i, s := range sources {
				if components.RunsOnEveryInstance(s.Type) {
					sources[i].Leader = "*"
				} else {
					sources[i].Leader = st.Leader(router.LeaseName(s.Pipeline, s.Source))
				}
			}
			lanes, err := pgtopic.ReadLanes(cmd.Context(), pool)
			if err != nil {
				return dbError(err)
			}
			if a.json {
				out := map[string]any{"instances": st.Instances, "leases": st.Leases, "lanes": lanes.Lanes, "held_keys": lanes.Held}
				if file != "" {
					out["sources"] = sources
				}
				return printJSON(a.stdout, out)
			}
			if len(st.Instances) == 0 {
				fmt.Fprintln(a.stdout, "no instance is registered")
			} else if err := printTable(a.stdout, st.Instances, []string{"INSTANCE", "HOST", "PID", "STARTED", "LAST HEARTBEAT", "LEADS"}, func(in leader.Instance) []string {
				hb := time.Since(in.HeartbeatAt).Round(100*time.Millisecond).String() + " ago"
				if !in.Live {
					hb += " (gone)"
				}
				return []string{in.ID, in.Host, strconv.Itoa(in.PID), when(in.StartedAt), hb, strconv.Itoa(len(in.Leads))}
			}); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			switch {
			case file != "":
				err = printTable(a.stdout, sources, []string{"PIPELINE", "SOURCE", "TYPE", "LEADER"}, func(s statusSource) []string {
					l := s.Leader
					switch l {
					case "":
						l = "none (waiting for a lease to expire or an instance to start)"
					case "*":
						l = "every instance"
					}
					return []string{s.Pipeline, s.Source, s.Type, l}
				})
			case len(st.Leases) == 0:
				fmt.Fprintln(a.stdout, "no source lease yet")
			default:
				err = printTable(a.stdout, st.Leases, []string{"SOURCE", "LEADER", "SINCE", "EXPIRES IN", "HAND-OVERS"}, func(l leader.Lease) []string {
					exp := time.Until(l.ExpiresAt).Round(100 * time.Millisecond).String()
					owner := l.Owner
					switch {
					case l.Owner == "":
						exp, owner = "released", "none"
					case l.Expired:
						exp, owner = "expired", owner+" (expired)"
					}
					return []string{l.Name, owner, when(l.AcquiredAt), exp, strconv.FormatInt(l.Fence-1, 10)}
				})
			}
			if err != nil {
				return err
			}
			return a.printLanes(lanes)
		}),
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "pipeline file: list each of its sources with its leader")
	return cmd
}

// printLanes lists the lanes of ordered sinks (order_by): who holds each,
// and every key held back by a failure with its oldest waiting event.
func (a *app) printLanes(st pgtopic.LaneStatus) error {
	if len(st.Lanes) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	if err := printTable(a.stdout, st.Lanes, []string{"TOPIC", "SINK", "LANE", "HELD BY", "EPOCH", "PENDING"}, func(l pgtopic.LaneState) []string {
		return []string{l.Topic, l.Group, strconv.Itoa(l.Lane), cmp.Or(l.Owner, "free"), strconv.FormatInt(l.Epoch, 10), strconv.Itoa(l.Pending)}
	}); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	if len(st.Held) == 0 {
		fmt.Fprintln(a.stdout, "no key is held back")
		return nil
	}
	header := []string{"TOPIC", "SINK", "HELD KEY", "OLDEST EVENT", "STORED", "ATTEMPTS", "NEXT TRY", "WAITING", "LAST ERROR"}
	return printTable(a.stdout, st.Held, header, func(h pgtopic.HeldKey) []string {
		return []string{h.Topic, h.Group, h.Key, h.UUID, when(h.StoredAt), strconv.Itoa(h.Attempts), when(h.RetryAt), strconv.Itoa(h.Waiting), h.LastError}
	})
}
