package ops

import (
	"context"
	"fmt"

	"github.com/tributary-dev/tributary/router"
)

// SourceStates says which sources stopped for good and why: a
// *router.Router, which runs them and sees them stop (a source's stopped
// call with a reason, e.g. a batch feed whose feed id answers 404).
type SourceStates interface {
	SourceFailures() []router.SourceFailure
}

// sourceFailure returns the failure of one source, if it failed.
func sourceFailure(s SourceStates, pipeline, source string) (router.SourceFailure, bool) {
	for _, f := range s.SourceFailures() {
		if f.Pipeline == pipeline && f.Source == source {
			return f, true
		}
	}
	return router.SourceFailure{}, false
}

// SourceChecks returns one readiness check per source of the pipelines,
// named "source <pipeline>/<source>", failing with the reason once it
// stopped for good.
func SourceChecks(s SourceStates, pipelines []PipelineInfo) []Check {
	var out []Check
	for _, p := range pipelines {
		for _, src := range p.Sources {
			out = append(out, Check{Name: "source " + p.Name + "/" + src.Name, Check: func(context.Context) error {
				if f, ok := sourceFailure(s, p.Name, src.Name); ok {
					return fmt.Errorf("failed: %s", f.Reason)
				}
				return nil
			}})
		}
	}
	return out
}
