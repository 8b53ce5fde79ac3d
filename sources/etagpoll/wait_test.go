package etagpoll

import (
	"net/http"
	"testing"
	"time"
)

func TestNextWait(t *testing.T) {
	t.Parallel()
	cfg := Config{Name: "w", BaseURL: "http://x", Checkpoints: &savingStore{}, Jitter: 0.1}
	s, err := NewSource(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		failures        int
		server, retry   time.Duration
		atLeast, atMost time.Duration
	}{
		{"idle: the seed's 60 s plus jitter", 0, 0, 0, 60 * time.Second, 66 * time.Second},
		{"server asks for longer", 0, 90 * time.Second, 0, 90 * time.Second, 99 * time.Second},
		{"server asks for shorter: ours wins", 0, 10 * time.Second, 0, 60 * time.Second, 66 * time.Second},
		{"first failure", 1, 0, 0, 60 * time.Second, 66 * time.Second},
		{"second failure doubles", 2, 0, 0, 120 * time.Second, 132 * time.Second},
		{"third failure doubles again", 3, 0, 0, 240 * time.Second, 264 * time.Second},
		{"capped at 15 min", 30, 0, 0, 15 * time.Minute, 16*time.Minute + 30*time.Second},
		{"Retry-After wins", 1, 0, 7 * time.Minute, 7 * time.Minute, 7 * time.Minute},
		{"Retry-After capped", 1, 0, 48 * time.Hour, time.Hour, time.Hour},
	}
	for _, tc := range tests {
		for range 50 {
			d := s.nextWait(tc.failures, tc.server, tc.retry)
			if d < tc.atLeast || d > tc.atMost {
				t.Fatalf("%s: wait %s, want within [%s, %s]", tc.name, d, tc.atLeast, tc.atMost)
			}
		}
	}
}

func TestPollIntervalAndLink(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("X-Poll-Interval", "90")
	if got := pollInterval(h); got != 90*time.Second {
		t.Fatalf("X-Poll-Interval 90: got %s", got)
	}
	h.Set("X-Poll-Interval", "x")
	if got := pollInterval(h); got != 0 {
		t.Fatalf("X-Poll-Interval x: got %s", got)
	}
	l := http.Header{}
	l.Add("Link", `<https://api.example/eventlogs?page=1>; rel="prev", <https://api.example/eventlogs?page=3>; rel="next last"`)
	if got := nextLink(l); got != "https://api.example/eventlogs?page=3" {
		t.Fatalf("next link: got %q", got)
	}
	l.Set("Link", `<https://api.example/eventlogs?page=1>; rel="prev"`)
	if got := nextLink(l); got != "" {
		t.Fatalf("no next: got %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := []Config{
		{BaseURL: "http://x", Checkpoints: &savingStore{}},
		{Name: "n", BaseURL: "ftp://x", Checkpoints: &savingStore{}},
		{Name: "n", BaseURL: "http://x"},
		{Name: "n", BaseURL: "http://x", Checkpoints: &savingStore{}, Paging: "cursor"},
		{Name: "n", BaseURL: "http://x", Checkpoints: &savingStore{}, Overlap: -time.Second},
		{Name: "n", BaseURL: "http://x", Checkpoints: &savingStore{}, Interval: -time.Second},
	}
	for i, c := range bad {
		if _, err := NewSource(c, nil); err == nil {
			t.Errorf("config %d: want an error", i)
		}
	}
	s, err := NewSource(Config{Name: "n", BaseURL: "http://x/api/", Checkpoints: &savingStore{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.probeURL().String(); got != "http://x/api/eventlogs?limit=1" {
		t.Fatalf("probe URL %q", got)
	}
	since := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.FixedZone("x", 3600))
	if got := s.pageURL(since, Auto, 1, 100).String(); got != "http://x/api/eventlogs?limit=100&orderBy=createdAt%3ADESC&page=2&startDate=2026-03-01T11%3A00%3A00.987Z" {
		t.Fatalf("page URL %q", got)
	}
	if s.cfg.Interval != time.Minute || s.cfg.Overlap != 5*time.Minute || s.cfg.Paging != Auto {
		t.Fatalf("defaults: interval %s overlap %s paging %s", s.cfg.Interval, s.cfg.Overlap, s.cfg.Paging)
	}
	// Before OffsetParam existed, PageParam named the offset under Offset.
	s, err = NewSource(Config{Name: "n", BaseURL: "http://x", Checkpoints: &savingStore{}, Paging: Offset, PageParam: "skip"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.pageURL(since, Offset, 1, 30).Query().Get("skip"); got != "30" {
		t.Fatalf("offset sent as skip=%q, want 30", got)
	}
	for _, p := range []Paging{Auto, PageNumber, Offset, Link, NoPaging} {
		if _, err := NewSource(Config{Name: "n", BaseURL: "http://x", Checkpoints: &savingStore{}, Paging: p}, nil); err != nil {
			t.Errorf("paging %q: %v", p, err)
		}
	}
}
