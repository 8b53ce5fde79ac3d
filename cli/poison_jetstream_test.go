package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// TestPoisonReplayOnJetStream: a poison record of a pipeline on JetStream
// is replayed onto its sink's retry stream with -c FILE; without the file
// the command refuses (exit 2) instead of writing it to a Postgres queue no
// one reads, and the record stays.
func TestPoisonReplayOnJetStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := natstest.Start(t)
	url := pgtest.NewDatabase(t)
	pool := pgtest.PoolFor(t, url)
	env := map[string]string{"DATABASE_URL": url}
	now := time.Now()
	if err := (middleware.PostgresPoisonStore{DB: pool}).Add(ctx, middleware.PoisonRecord{
		Pipeline: "doors", Sink: "receiver", MessageUUID: "u1", EventID: "e1", Payload: []byte(`{}`),
		Metadata: map[string]string{"tributary_event_id": "e1"}, Reason: "400", Attempts: 1, FirstFailure: now, LastFailure: now,
	}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM tributary_poison`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(file, []byte(`backend: { type: jetstream, url: "`+srv.URL+`" }
pipelines:
  - name: doors
    sources: [{name: a, type: webhookin, options: {path: /a, allow_unauthenticated: true}}]
    sinks: [{name: receiver, type: http, options: {url: "http://127.0.0.1:1/"}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errs := execute(t, env, "poison", "replay", strconv.FormatInt(id, 10))
	if code != ExitUsage || !strings.Contains(errs, "replay with -c FILE") {
		t.Fatalf("replay without the file: exit %d, %s; want %d and a hint", code, errs, ExitUsage)
	}
	if n, _ := router.NewPoisonQueue(pool).Count(ctx, router.PoisonFilter{}); n != 1 {
		t.Fatalf("the refused replay removed the record (%d left)", n)
	}

	code, out, errs := execute(t, env, "poison", "replay", "-c", file, strconv.FormatInt(id, 10))
	if code != ExitOK || !strings.Contains(out, "replayed 1") {
		t.Fatalf("replay -c: exit %d\n%s\n%s", code, out, errs)
	}
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	topic := router.RetryTopic("doors", "receiver")
	s, err := js.Stream(ctx, jstopic.StreamName(topic))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, topic)
	if err != nil {
		t.Fatalf("nothing on the sink's retry stream: %v", err)
	}
	if m.Header.Get("tributary_event_id") != "e1" || m.Header.Get(middleware.MetaAttempts) != "" {
		t.Fatalf("replayed message headers %v; want event e1, attempts reset", m.Header)
	}
	if n, _ := router.NewPoisonQueue(pool).Count(ctx, router.PoisonFilter{}); n != 0 {
		t.Fatalf("%d records left after replay", n)
	}
}
