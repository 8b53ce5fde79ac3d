package ops_test

import (
	"context"
	"testing"

	"github.com/tributary-dev/tributary/ops"
	"github.com/tributary-dev/tributary/router"
)

// failures stands for the router: the sources that stopped for good.
type failures []router.SourceFailure

func (f failures) SourceFailures() []router.SourceFailure { return f }

// TestSourceChecks: each source has a readiness check, failing with the
// reason the router recorded once it stopped for good.
func TestSourceChecks(t *testing.T) {
	t.Parallel()
	states := failures{{Pipeline: "p", Source: "bad", Reason: `feed "x" not found (404)`}}
	checks := ops.SourceChecks(states, []ops.PipelineInfo{{Name: "p", Sources: []ops.ComponentInfo{{Name: "bad"}, {Name: "good"}}}})
	if len(checks) != 2 || checks[0].Name != "source p/bad" || checks[1].Name != "source p/good" {
		t.Fatalf("checks %+v", checks)
	}
	if err := checks[0].Check(context.Background()); err == nil || err.Error() != `failed: feed "x" not found (404)` {
		t.Errorf("bad source's check: %v", err)
	}
	if err := checks[1].Check(context.Background()); err != nil {
		t.Errorf("good source's check: %v", err)
	}
}
