package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/feedfake"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestFeedDiscardEmptiesBatchFeed: `feed discard` on a batchfeed source
// reaches the provider's discardAll (internal/feedfake) with the file's
// token, and only with --yes.
func TestFeedDiscardEmptiesBatchFeed(t *testing.T) {
	t.Parallel()
	fake := feedfake.New(feedfake.Config{Authorize: func(tok string) bool { return tok == "feed-token" }})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.Generate("journey", 7)
	fake.Generate("screening", 3)
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(`pipelines:
  - name: p
    sources:
      - name: j
        type: batchfeed
        options: { base_url: "`+srv.URL+`", feed_id: journey, auth: { token: "${FEED_TOKEN}" } }
    sinks: [{ name: out, type: log }]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "USER": "ops"}
	os.Setenv("FEED_TOKEN", "feed-token") // the file reads it through os.LookupEnv
	args := []string{"feed", "discard", "-c", file, "--pipeline", "p", "--source", "j"}
	if code, _, _ := execute(t, env, args...); code != ExitUsage || fake.Calls("journey", feedfake.OpDiscardAll) != 0 {
		t.Fatalf("without --yes: exit %d, %d discardAll calls", code, fake.Calls("journey", feedfake.OpDiscardAll))
	}
	code, out, errs := execute(t, env, append(args, "--yes", "--reason", "change window")...)
	if code != ExitOK || !strings.Contains(out, "discarded the pending events of p/j") {
		t.Fatalf("exit %d\nout: %s\nerr: %s", code, out, errs)
	}
	if fake.Discarded("journey") != 7 || fake.Pending("screening") != 3 {
		t.Fatalf("discarded %d on journey, %d left on screening", fake.Discarded("journey"), fake.Pending("screening"))
	}
	if fake.Denied() != 0 {
		t.Fatal("the token did not reach the provider")
	}
}
