package router_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sources/webhookin"
)

// TestWebhookinGroupCommitFailsEveryRequest: concurrent webhooks share
// ingest commits (the router's ingest batcher), and a shared commit that
// fails answers none of its requests 2xx: each is answered only after a
// commit that stored its own event. The commit is made to fail at COMMIT
// (a deferred constraint trigger), after the rows were written; a
// statement-level trigger counts, in a sequence that a rollback does not
// undo, the inserts that held several requests' events. Once commits work
// again, the senders' retries are all stored.
func TestWebhookinGroupCommitFailsEveryRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		CREATE SEQUENCE grouped_inserts;
		CREATE FUNCTION count_grouped() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF (SELECT count(*) FROM new_rows) > 1 THEN PERFORM nextval('grouped_inserts'); END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER count_grouped AFTER INSERT ON tributary_messages
			REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_grouped();
		CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
		CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON tributary_messages
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();`); err != nil {
		t.Fatal(err)
	}
	in, err := webhookin.NewSource(webhookin.Config{AllowUnauthenticated: true, AckTimeout: 3 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Backend: router.Postgres(pool), Logger: watermill.NopLogger{}}, router.Pipeline{
		Name:    "grouped",
		Sources: []router.Source{{Name: "hooks", Source: tributary.FromSubscriber(in, "")}},
		Sinks:   []router.Sink{{Name: "none", Publisher: nopPublisher{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.RunRouter(t, r)
	<-r.Running()
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)

	const senders = 16
	post := func() []int {
		codes := make([]int, senders)
		var wg sync.WaitGroup
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(srv.URL, "application/json", strings.NewReader(fmt.Sprintf(`{"id":"g-%d"}`, i)))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		return codes
	}
	for i, code := range post() {
		if code/100 == 2 {
			t.Errorf("request %d answered %d although no commit succeeded", i, code)
		}
	}
	var grouped, stored int64
	if err := pool.QueryRow(ctx, `SELECT last_value * (is_called::int) FROM grouped_inserts`).Scan(&grouped); err != nil {
		t.Fatal(err)
	}
	if grouped == 0 {
		t.Fatal("no insert held more than one request's event: the requests never shared a commit, so this proves nothing")
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_messages`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("topic holds %d events (%v), want none", stored, err)
	}
	t.Logf("%d failed inserts held several requests' events; every request was refused", grouped)

	if _, err := pool.Exec(ctx, `DROP TRIGGER fail_commit ON tributary_messages`); err != nil {
		t.Fatal(err)
	}
	for i, code := range post() {
		if code/100 != 2 {
			t.Errorf("after commits work again, request %d answered %d", i, code)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_messages`).Scan(&stored); err != nil || stored != senders {
		t.Fatalf("topic holds %d events (%v), want %d", stored, err, senders)
	}
}

// nopPublisher is a sink that takes everything.
type nopPublisher struct{}

func (nopPublisher) Publish(string, ...*message.Message) error { return nil }
func (nopPublisher) Close() error                              { return nil }
