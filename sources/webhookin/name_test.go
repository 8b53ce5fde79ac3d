package webhookin_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// TestNameFromThePipeline: the source learns its name from the router
// (Instrument), possibly while it already answers requests (a user may
// mount it before the router starts); from then on its lines name it.
func TestNameFromThePipeline(t *testing.T) {
	t.Parallel()
	logs := &pipelinetest.Logger{}
	src, err := webhookin.NewSource(webhookin.Config{Token: "tok-1"}, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	refuse := func() {
		rec := httptest.NewRecorder()
		src.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`)))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("answer %d, want 401", rec.Code)
		}
	}
	var wg sync.WaitGroup
	for range 4 { // refused meanwhile: the race detector checks the naming
		wg.Add(1)
		go func() { defer wg.Done(); refuse() }()
	}
	src.Instrument(nil, "doors", "front-door")
	wg.Wait()
	refuse()
	lines := logs.Lines("INFO")
	if len(lines) != 5 || !strings.Contains(lines[4], "source:front-door") {
		t.Fatalf("lines %q: want the last refusal to name the source", lines)
	}
}
