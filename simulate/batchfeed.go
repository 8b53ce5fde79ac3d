package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/feedfake"
)

// Batch polling feeds: internal/feedfake (what the batchfeed source is
// tested against) behind an OAuth2 token endpoint and a tenant header.
func init() {
	Register(func(cfg Config) (Simulator, error) {
		return NewBatchFeed(BatchFeedConfig{
			Interval: cfg.EventInterval, Seed: cfg.Seed, ClientSecret: cfg.FeedClientSecret,
		}), nil
	})
}

// Defaults of the simulated feed's credentials; quickstart.yaml uses them.
const (
	FeedClientID     = "tributary-quickstart"
	FeedClientSecret = "quickstart-feed-secret"
	FeedTenantID     = "bded51d4-598e-4079-9cf6-43e74144b415"
)

// BatchFeedConfig configures the batch feed simulator.
type BatchFeedConfig struct {
	// Interval is the mean time between bursts of notifications (1–4 each,
	// on one feed); 2 s when zero.
	Interval time.Duration
	// Seed makes the notifications reproducible.
	Seed uint64
	// ClientSecret of client FeedClientID at POST /oauth2/token;
	// FeedClientSecret when empty. Feed requests need a token it issued.
	ClientSecret string
	// History is how many notifications wait on the journey feed at start
	// (more than a batch, so moreAvailable shows), and a quarter of it on
	// screening; 12 when zero.
	History int
}

// BatchFeed simulates batch polling feeds.
type BatchFeed struct {
	cfg    BatchFeedConfig
	Fake   *feedfake.Fake
	Issuer *feedfake.TokenIssuer

	mu   sync.Mutex
	rng  *rand.Rand
	seq  int
	sent sentLog
}

// feedEvents are the event types generated per feed, shaped like the
// provider's Event Registry ("feed:eventname").
var feedEvents = []struct {
	feed   string
	weight int
	types  []string
	url    string
}{
	{"journey", 5, []string{"journey:taskcompleted", "journey:taskassigned", "journey:journeystarted", "journey:journeycompleted"}, "journeyquery/api/journey-instance/%s/task/%s"},
	{"screening", 2, []string{"screening:matchesfound", "screening:batchcompleted"}, "screeningquery/api/screening/%s/result/%s"},
	{"document", 2, []string{"document:documentuploaded", "document:documentlinked"}, "documentquery/api/document/%s/version/%s"},
	{"entitydata", 1, []string{"entitydata:entitycreated", "entitydata:entityupdated"}, "entitydataquery/api/entity/%s/draft/%s"},
}

var taskNames = []string{"Resolve Pre-Screening Matches", "Review Documents", "Approve Client", "Collect Tax Forms", "Verify Identity"}

// NewBatchFeed returns the simulator with cfg.History waiting notifications.
func NewBatchFeed(cfg BatchFeedConfig) *BatchFeed {
	cfg.Interval = cmp.Or(cfg.Interval, 2*time.Second)
	cfg.ClientSecret = cmp.Or(cfg.ClientSecret, FeedClientSecret)
	cfg.History = cmp.Or(cfg.History, 12)
	b := &BatchFeed{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfeed))}
	b.Issuer = feedfake.NewTokenIssuer(FeedClientID, cfg.ClientSecret, time.Hour)
	b.Fake = feedfake.New(feedfake.Config{Authorize: b.Issuer.Valid, TenantID: FeedTenantID})
	b.Generate("journey", cfg.History)
	b.Generate("screening", max(cfg.History/4, 1))
	return b
}

func (b *BatchFeed) uuid() string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", b.rng.Uint32(), b.rng.Uint32()&0xffff,
		0x5000|b.rng.Uint32()&0x0fff, 0x8000|b.rng.Uint32()&0x3fff, b.rng.Uint64()&0xffffffffffff)
}

// Generate queues n new notifications on feed and returns them.
func (b *BatchFeed) Generate(feed string, n int) []feedfake.Notification {
	b.mu.Lock()
	var kind = feedEvents[0]
	for _, k := range feedEvents {
		if k.feed == feed {
			kind = k
		}
	}
	ns := make([]feedfake.Notification, n)
	correlation := b.uuid() // a burst belongs to one journey
	for i := range ns {
		b.seq++
		instance, task := b.uuid(), b.uuid()
		payload, _ := json.Marshal(map[string]string{
			"TaskId": task, "TaskName": taskNames[b.rng.IntN(len(taskNames))], "TaskType": "ScreeningMatchResolutionTask",
		})
		ns[i] = feedfake.Notification{
			ID:            b.uuid(),
			EventType:     kind.types[b.rng.IntN(len(kind.types))],
			When:          time.Now().UTC().Format("2006-01-02T15:04:05.0000000+00:00"), // .NET's round-trip format
			TenantID:      FeedTenantID,
			CausationID:   b.uuid(),
			CorrelationID: correlation,
			RelativeURL:   fmt.Sprintf(kind.url, instance, task),
			Payload:       payload,
		}
	}
	b.mu.Unlock()
	b.Fake.Add(feed, ns...)
	for _, n := range ns {
		b.sent.add(feed, Sent{ID: n.ID, At: time.Now(), Live: true})
	}
	return ns
}

// Sent implements ledger: every notification queued, per feed.
func (b *BatchFeed) Sent() map[string][]Sent { return b.sent.snapshot() }

// Readers implements readerSource: a batch completed twice is a violation.
func (b *BatchFeed) Readers() map[string]Readers {
	out := map[string]Readers{}
	for _, k := range feedEvents {
		out[k.feed] = Readers{Violations: duplicateCompletes(b.Fake.CompleteAttempts(k.feed))}
	}
	return out
}

// Name implements Simulator.
func (b *BatchFeed) Name() string { return "batch feeds" }

// Mount implements Simulator.
func (b *BatchFeed) Mount(mux *http.ServeMux) []string {
	mux.Handle("/eventnotifications/v2/", b.Fake)
	mux.Handle("POST /oauth2/token", b.Issuer)
	return []string{
		"GET /eventnotifications/v2/{feed}/next, POST …/{feed}/{batchId}/complete, PUT …/{feed}/discardAll",
		fmt.Sprintf("POST /oauth2/token (client credentials: %s; tenant header X-Tenant-Id: %s)", FeedClientID, FeedTenantID),
	}
}

// Run implements Simulator: a burst of 1–4 notifications on a feed every
// Interval on average, feeds weighted (journey busiest).
func (b *BatchFeed) Run(ctx context.Context) {
	total := 0
	for _, k := range feedEvents {
		total += k.weight
	}
	for waitAround(ctx, &b.mu, b.rng, b.cfg.Interval) {
		b.mu.Lock()
		pick, n := b.rng.IntN(total), 1+b.rng.IntN(4)
		b.mu.Unlock()
		feed := feedEvents[0].feed
		for _, k := range feedEvents {
			if pick < k.weight {
				feed = k.feed
				break
			}
			pick -= k.weight
		}
		b.Generate(feed, n)
	}
}
