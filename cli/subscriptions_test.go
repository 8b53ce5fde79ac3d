package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

// TestSubscriptionEndpointCommands walks an endpoint through the CLI: add
// (a bad one is refused naming its fields), list without its secrets, test
// each type against a receiver that checks its token, disable, rotate,
// queue, replay and remove.
func TestSubscriptionEndpointCommands(t *testing.T) {
	t.Parallel()
	recv := pipelinetest.TokenReceiver(t, "tok-s3cret", nil)
	dbURL := pgtest.NewDatabase(t)
	pgtest.PoolFor(t, dbURL)
	env := map[string]string{"DATABASE_URL": dbURL, "USER": "ops"}

	code, out, errs := execute(t, env, "endpoints", "add", "--pipeline", "comments", "--sink", "hooks", "--url", "ftp://x", "--method", "GET")
	if code != ExitUsage || !strings.Contains(errs, "url:") || !strings.Contains(errs, "method:") || !strings.Contains(errs, "types:") {
		t.Fatalf("bad add: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = execute(t, env, "--json", "endpoints", "add", "--pipeline", "comments", "--sink", "hooks", "--id", "ep_cli",
		"--url", recv.URL+"/hook", "--type", "comment.created,comment.deleted", "--token", "tok-s3cret", "--new-secret", "--tenant", "acme")
	if code != ExitOK {
		t.Fatalf("add: exit %d\n%s%s", code, out, errs)
	}
	var added struct {
		Endpoint  struct{ ID, Token string }
		Generated string `json:"generated_secret"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Endpoint.ID != "ep_cli" || added.Endpoint.Token != "[redacted]" ||
		!strings.HasPrefix(added.Generated, "whsec_") {
		t.Fatalf("add output: %v\n%s", err, out)
	}
	code, out, errs = execute(t, env, "endpoints", "list", "--subscriptions")
	if code != ExitOK || !strings.Contains(out, "ep_cli") || !strings.Contains(out, "acme") || strings.Contains(out, "tok-s3cret") ||
		strings.Contains(out, added.Generated) {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = execute(t, env, "endpoints", "test", "ep_cli", "--allow-private-networks")
	if code != ExitOK || strings.Count(out, "ok") < 2 || !strings.Contains(out, "comment.deleted") || !strings.Contains(out, "delete") {
		t.Fatalf("test: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = execute(t, env, "endpoints", "update", "ep_cli", "--token", "wrong")
	if code != ExitOK {
		t.Fatalf("update: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = execute(t, env, "endpoints", "test", "ep_cli", "--allow-private-networks", "--type", "comment.created")
	if code != ExitCheckFailed || !strings.Contains(out, "401") {
		t.Fatalf("test with the wrong token stored: exit %d, want %d\n%s%s", code, ExitCheckFailed, out, errs)
	}
	for _, args := range [][]string{
		{"endpoints", "disable", "--id", "ep_cli", "--reason", "maintenance"},
		{"endpoints", "rotate", "ep_cli", "--overlap", "1h"},
		{"endpoints", "queue", "ep_cli"},
		{"endpoints", "replay", "ep_cli", "--since", "1h"},
		{"endpoints", "enable", "--id", "ep_cli"},
		{"endpoints", "remove", "ep_cli"},
	} {
		if code, out, errs := execute(t, env, args...); code != ExitOK || strings.Contains(out+errs, "tok-s3cret") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	if code, out, errs := execute(t, env, "endpoints", "remove", "ep_cli"); code != ExitNotFound {
		t.Fatalf("remove again: exit %d, want %d\n%s%s", code, ExitNotFound, out, errs)
	}
}
