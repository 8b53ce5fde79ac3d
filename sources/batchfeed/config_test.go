package batchfeed

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{name: "valid", mod: func(*Config) {}},
		{name: "unknown feed id allowed", mod: func(c *Config) { c.FeedID = "newfeed" }},
		{name: "wrong case names the right spelling", mod: func(c *Config) { c.FeedID = "Journey" },
			wantErr: `feed_id: "Journey": feed ids are case-sensitive, did you mean "journey"? (valid: journey, entitydata, document, screening, digitalidv, association)`},
		{name: "upper case", mod: func(c *Config) { c.FeedID = "ENTITYDATA" }, wantErr: `did you mean "entitydata"`},
		{name: "feed id missing", mod: func(c *Config) { c.FeedID = "" }, wantErr: "feed_id: required"},
		{name: "feed id with slash", mod: func(c *Config) { c.FeedID = "a/b" }, wantErr: "not a feed id"},
		{name: "base URL missing", mod: func(c *Config) { c.BaseURL = "" }, wantErr: "base_url: required"},
		{name: "base URL relative", mod: func(c *Config) { c.BaseURL = "/api" }, wantErr: "absolute http:// or https:// URL"},
		{name: "bad tenant header", mod: func(c *Config) { c.TenantHeader = "X Tenant" }, wantErr: "not a header name"},
		{name: "negative interval", mod: func(c *Config) { c.PollInterval = -time.Second }, wantErr: "must not be negative"},
		{name: "backoff max below initial", mod: func(c *Config) { c.Backoff.Initial, c.Backoff.Max = time.Minute, time.Second }, wantErr: "below backoff.initial"},
		{name: "jitter too large", mod: func(c *Config) { c.PollJitter = 1 }, wantErr: "poll_jitter: 1: want a fraction below 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Config{BaseURL: "http://127.0.0.1:1", FeedID: "journey"}
			tt.mod(&c)
			err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v; want an ErrConfig containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: -1}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i); got != w*time.Millisecond {
			t.Fatalf("Delay(%d) = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	if got := b.Delay(5000); got != time.Second {
		t.Fatalf("Delay(5000) = %s, want the cap", got)
	}
	b.Jitter = 0.2
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Delay(2)
		if d < 320*time.Millisecond || d > 480*time.Millisecond {
			t.Fatalf("jittered delay %s outside 400ms ±20%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("jitter produced only %d distinct delays", len(seen))
	}
}
