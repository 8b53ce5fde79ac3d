package router

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/internal/natstest"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/router/jstopic"
)

// TestJetStreamDedupSurvivesCrashBetweenPublishAndKey: the publish and the
// recording of the dedup key are not atomic. An instance that dies between
// them has stored the event without its key; the source redelivers it (with
// a new UUID, as a re-read would), and the stream must drop it by its
// Nats-Msg-Id, after which the key is recorded. Once recorded, the key holds
// beyond the stream's duplicate window (1 s here).
func TestJetStreamDedupSurvivesCrashBetweenPublishAndKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := natstest.Start(t)
	pool := pgtest.NewPool(t)
	b := JetStream(JetStreamConfig{URL: srv.URL, Pool: pool, DuplicateWindow: time.Second})
	p := Pipeline{Name: "dd", Sinks: []Sink{{Name: "s"}}}
	if err := b.init(ctx, []Pipeline{p}, nil, time.Second); err != nil {
		t.Fatal(err)
	}
	defer b.close()
	target := ingestTarget{topic: Topic(p.Name), pipeline: p.Name, ttl: time.Hour}
	item := func() []ingestItem {
		return []ingestItem{{msg: message.NewMessage(watermill.NewUUID(), []byte("{}")), key: "e1"}}
	}
	inStream := func() uint64 {
		s, err := b.js.Stream(ctx, jstopic.StreamName(target.topic))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	keyRecorded := func() bool {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM tributary_dedup WHERE pipeline = 'dd' AND key = 'e1'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	crash := errors.New("killed between publish and key")
	b.afterPublish = func() error { return crash }
	if _, err := b.ingest(ctx, target, item()); !errors.Is(err, crash) {
		t.Fatalf("ingest: %v, want the simulated crash", err)
	}
	if inStream() != 1 || keyRecorded() {
		t.Fatalf("after the crash: %d in stream, key recorded %v; want 1, false", inStream(), keyRecorded())
	}

	b.afterPublish = nil
	stored, err := b.ingest(ctx, target, item())
	if err != nil {
		t.Fatal(err)
	}
	if stored[0] || inStream() != 1 || !keyRecorded() {
		t.Fatalf("redelivery: stored %v, %d in stream, key recorded %v; want false, 1, true", stored[0], inStream(), keyRecorded())
	}

	time.Sleep(1500 * time.Millisecond) // past the stream's duplicate window
	stored, err = b.ingest(ctx, target, item())
	if err != nil {
		t.Fatal(err)
	}
	if stored[0] || inStream() != 1 {
		t.Fatalf("after the window: stored %v, %d in stream; want false, 1 (the key in Postgres holds)", stored[0], inStream())
	}
}

// TestVersionBelow: the server versions the JetStream backend warns about.
func TestVersionBelow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"2.9.10", true}, {"2.9.15", true}, {"1.4.1", true}, {"", true}, {"garbage", true}, {"2.9", true},
		{"2.9.16", false}, {"2.9.25", false}, {"2.10.0", false}, {"2.10.0-beta.1", false}, {"2.15.3", false}, {"v2.15.3", false}, {"3.0.0", false},
	} {
		if got := versionBelow(c.v, "2.9.16"); got != c.want {
			t.Errorf("versionBelow(%q, 2.9.16) = %v, want %v", c.v, got, c.want)
		}
	}
	if !versionBelow("2.9.10", SafeNATSServer) {
		t.Errorf("Debian 12's nats-server 2.9.10 counts as safe (SafeNATSServer %s)", SafeNATSServer)
	}
}
