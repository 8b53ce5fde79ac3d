package router_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/router"
)

// runSource runs pipeline with one source into a recording sink until the
// test ends (or stop).
func runSource(t *testing.T, backend router.Backend, pipeline, source string, src tributary.Source) (*pipelinetest.Sink, func()) {
	t.Helper()
	sink := pipelinetest.NewSink(nil)
	r, err := router.New(router.Config{Backend: backend}, router.Pipeline{
		Name:    pipeline,
		Sources: []router.Source{{Name: source, Source: src}},
		Sinks:   []router.Sink{{Name: "s", Publisher: sink}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sink, pipelinetest.RunRouter(t, r)
}

// TestUnstorableEventsDoNotStopASource: a source hands on, one at a time,
// an event whose id is over the btree row limit, one whose type is, one
// with a NUL in its id, one with a NUL in its type, then an ordinary one.
// The long ones are stored (their dedup key is a digest, the topic's
// indexes take them); the NUL ones cannot be stored anywhere and are set
// aside in the ingest quarantine with their bytes and the reason; the
// source moves past every one of them and the last event is stored.
func TestUnstorableEventsDoNotStopASource(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	longID, longType := "id-"+pipelinetest.RandomText(7000), "type-"+pipelinetest.RandomText(7000)
	msgs := []*message.Message{
		tributary.NewEventMessage(longID, []byte(`{"n":1}`)),
		tributary.NewEventMessage("long-type", []byte(`{"n":2}`)),
		tributary.NewEventMessage("nul-\x00-id", []byte(`{"n":3}`)),
		tributary.NewEventMessage("nul-type", []byte(`{"n":4}`)),
		tributary.NewEventMessage("after", []byte(`{"n":5}`)),
		// A second event whose id shares the long id's first 7000 bytes:
		// its digest differs, so it is not a duplicate.
		tributary.NewEventMessage(longID[:len(longID)-1]+"!", []byte(`{"n":6}`)),
	}
	msgs[1].Metadata.Set(tributary.MetaEventType, longType)
	msgs[3].Metadata.Set(tributary.MetaEventType, "a\x00b")
	src := pipelinetest.NewListSource(msgs...)
	sink, _ := runSource(t, router.Postgres(pool), "hostile", "list", src)
	pipelinetest.WaitFor(t, 60*time.Second, "the source to move past every event", func() bool { return src.Acked() == len(msgs) })
	pipelinetest.WaitFor(t, 30*time.Second, "the storable events to be delivered", func() bool { return sink.Distinct() == 4 })
	for _, id := range []string{longID, "long-type", "after", longID[:len(longID)-1] + "!"} {
		if sink.Count(id) != 1 {
			t.Fatalf("event %.20s… delivered %d times, want 1", id, sink.Count(id))
		}
	}
	if got := sink.Metadata("long-type").Get(tributary.MetaEventType); got != longType {
		t.Fatalf("long type stored as %d bytes, want the whole %d", len(got), len(longType))
	}

	q := router.NewIngestQuarantine(pool)
	recs, err := q.List(context.Background(), router.QuarantineFilter{Pipeline: "hostile"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("quarantine holds %d records, want 2: %+v", len(recs), recs)
	}
	byID := map[string]router.QuarantineRecord{}
	for _, rec := range recs {
		byID[rec.Metadata[tributary.MetaEventID]] = rec
		if rec.Source != "list" || rec.Reason == "" || rec.SQLState == "" {
			t.Fatalf("record lacks its source, reason or SQLSTATE: %+v", rec)
		}
	}
	if rec, ok := byID["nul-\x00-id"]; !ok || string(rec.Payload) != `{"n":3}` || rec.MessageUUID != msgs[2].UUID {
		t.Fatalf("the NUL id event is not kept whole: %+v", byID)
	}
	if rec, ok := byID["nul-type"]; !ok || rec.Metadata[tributary.MetaEventType] != "a\x00b" {
		t.Fatalf("the NUL type event is not kept whole: %+v", byID)
	}
	if !strings.Contains(byID["nul-type"].EventID, "nul-type") {
		t.Fatalf("the listing's event id is %q", byID["nul-type"].EventID)
	}
}

// TestQuarantineReplay: a record whose event is still refused stays, and
// Replay says so (ErrStillUnstorable); one that can be stored now (here
// written as an older version would have) is stored into its pipeline's
// topic on its dedup key and removed, in one transaction, and a second
// record of the same event is then a duplicate, not stored again.
func TestQuarantineReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	src := pipelinetest.NewListSource(tributary.NewEventMessage("nul\x00", []byte(`{}`)))
	_, stop := runSource(t, router.Postgres(pool), "replays", "list", src)
	pipelinetest.WaitFor(t, 30*time.Second, "the source to move on", func() bool { return src.Acked() == 1 })
	stop()
	q := router.NewIngestQuarantine(pool)
	recs, err := q.List(ctx, router.QuarantineFilter{Source: "list"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("quarantine: %v, %+v", err, recs)
	}
	if err := q.Replay(ctx, recs[0].ID); !errors.Is(err, router.ErrStillUnstorable) {
		t.Fatalf("replay of a NUL id: %v, want ErrStillUnstorable", err)
	}
	if n, _ := q.Count(ctx, router.QuarantineFilter{}); n != 1 {
		t.Fatalf("the failed replay removed the record (%d left)", n)
	}

	var ids [2]int64
	for i := range ids {
		if err := pool.QueryRow(ctx, `INSERT INTO tributary_ingest_quarantine
			(pipeline, source, event_id, message_uuid, metadata, payload, dedup_key, dedup_ttl, reason)
			VALUES ('replays', 'list', 'fixed', 'u-fixed', '{"tributary_event_id":"fixed"}', '{"n":1}', 'fixed', 3600, 'old')
			RETURNING id`).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if err := q.Replay(ctx, id); err != nil {
			t.Fatalf("replay %d: %v", id, err)
		}
	}
	if got := pipelinetest.TopicIDs(t, pool, "replays"); len(got) != 1 || got[0] != "fixed" {
		t.Fatalf("topic holds %v, want the replayed event once", got)
	}
	if err := q.Replay(ctx, ids[0]); !errors.Is(err, router.ErrNotFound) {
		t.Fatalf("replaying a replayed record: %v, want ErrNotFound", err)
	}
	if n, err := q.Purge(ctx, router.QuarantineFilter{Pipeline: "replays"}); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want the NUL record", n, err)
	}
}

// TestUnstorableEventsOnJetStream: on the JetStream backend the topic is a
// stream, which takes a NUL in an id or type and ids of any length (the
// dedup key is a digest, the stream's message id carries it), so those are
// stored; what the server refuses for good — a message over its
// max_payload (1 MiB by default) — is set aside in the ingest quarantine
// in Postgres, and the source moves on to the next event.
func TestUnstorableEventsOnJetStream(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	srv := natstest.Start(t)
	backend := router.JetStream(router.JetStreamConfig{URL: srv.URL, Pool: pool, AckWait: 5 * time.Second})
	longID := "id-" + pipelinetest.RandomText(7000)
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = 'x'
	}
	msgs := []*message.Message{
		tributary.NewEventMessage(longID, []byte(`{"n":1}`)),
		tributary.NewEventMessage("nul-\x00-id", []byte(`{"n":2}`)),
		tributary.NewEventMessage("too-big", big),
		tributary.NewEventMessage("after", []byte(`{"n":4}`)),
	}
	src := pipelinetest.NewListSource(msgs...)
	sink, _ := runSource(t, backend, "hostile-js", "list", src)
	pipelinetest.WaitFor(t, 60*time.Second, "the source to move past every event", func() bool { return src.Acked() == len(msgs) })
	pipelinetest.WaitFor(t, 30*time.Second, "the stored events to be delivered", func() bool {
		return sink.Count(longID) == 1 && sink.Count("nul-\x00-id") == 1 && sink.Count("after") == 1
	})
	recs, err := backend.IngestQuarantine().List(context.Background(), router.QuarantineFilter{Pipeline: "hostile-js"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].EventID != "too-big" || len(recs[0].Payload) != len(big) || sink.Count("too-big") != 0 {
		t.Fatalf("quarantine: %d records, want the 2 MiB event only", len(recs))
	}
}

// TestGroupWithAnUnstorableEvent: a source's group holding an event the
// database refuses for good is stored without it, in order, with its
// duplicate deduped (the rest of the group and the quarantine record
// commit in one transaction, each event in a savepoint), every message of
// the group is acked after one hand-on, and the next group follows.
func TestGroupWithAnUnstorableEvent(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	src := &groupSource{groups: [][]string{{"a-0", "a-1"}, {"b-0", "bad\x00", "b-1", "b-1"}, {"c-0"}}}
	sink, _ := runSource(t, router.Postgres(pool), "grpq", "g", src)
	all := []string{"a-0", "a-1", "b-0", "bad\x00", "b-1", "b-1", "c-0"}
	pipelinetest.WaitFor(t, 20*time.Second, "every message acked", func() bool {
		acked, _ := src.snapshot()
		return slices.Equal(acked, all)
	})
	if _, tries := src.snapshot(); tries[1] != 1 {
		t.Fatalf("the group with the unstorable event was handed on %d times, want once", tries[1])
	}
	want := []string{"a-0", "a-1", "b-0", "b-1", "c-0"}
	if got := pipelinetest.TopicIDs(t, pool, "grpq"); !slices.Equal(got, want) {
		t.Fatalf("topic %q, want %q", got, want)
	}
	pipelinetest.WaitFor(t, 20*time.Second, "delivery", func() bool { return sink.Distinct() == len(want) })
	if sink.Count("bad\x00") != 0 {
		t.Fatal("the unstorable event was delivered")
	}
	if n, _ := router.NewIngestQuarantine(pool).Count(ctx, router.QuarantineFilter{Pipeline: "grpq"}); n != 1 {
		t.Fatalf("%d quarantined, want the NUL event", n)
	}
}
