package components

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tributary-dev/tributary/sources/batchfeed"
)

// The batchfeed source reads one batch polling feed: GET
// …/{feed}/next, store every notification, then POST …/{batchId}/complete.
// Its options map onto batchfeed.Config. Built, it is a Discarder, so
// `tributary feed discard` empties the feed with the provider's discardAll.
func init() {
	RegisterSource("batchfeed", "reads a batch polling feed: next, store, complete; supports feed discard",
		func(env Env, o *BatchfeedOptions) (message.Subscriber, error) {
			src, err := batchfeed.NewSource(o.Config(env.Name), withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			if err != nil {
				return nil, err
			}
			return &BatchfeedSource{tracingSubscriber: startTraces(src), src: src, feed: o.FeedID}, nil
		})
}

// BatchfeedOptions configures the batchfeed source; see batchfeed.Config.
type BatchfeedOptions struct {
	BaseURL string `yaml:"base_url"`
	// FeedID is one of batchfeed.KnownFeeds, spelt exactly (case-sensitive).
	FeedID string        `yaml:"feed_id"`
	Auth   BatchfeedAuth `yaml:"auth"`
	// TenantID, when set, goes in TenantHeader (X-Tenant-Id) on every request.
	TenantID     string `yaml:"tenant_id"`
	TenantHeader string `yaml:"tenant_header"`

	PollInterval   time.Duration `yaml:"poll_interval"`
	PollJitter     float64       `yaml:"poll_jitter"`
	Backoff        BackoffSpec   `yaml:"backoff"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	DiscardTimeout time.Duration `yaml:"discard_timeout"`
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`
	Unordered      bool          `yaml:"unordered"`
}

// BatchfeedAuth is a static bearer token or OAuth2 client credentials (or
// neither, for a feed behind another gateway).
type BatchfeedAuth struct {
	Token  string      `yaml:"token"`
	OAuth2 *OAuth2Spec `yaml:"oauth2"`
}

// OAuth2Spec is the OAuth2 client credentials grant.
type OAuth2Spec struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	// Audience and other extra parameters of the token request.
	Params map[string]string `yaml:"params"`
	// RefreshBefore renews a token this long before it expires; 1 min.
	RefreshBefore time.Duration `yaml:"refresh_before"`
}

// BackoffSpec is batchfeed.Backoff.
type BackoffSpec struct {
	Initial    time.Duration `yaml:"initial"`
	Max        time.Duration `yaml:"max"`
	Multiplier float64       `yaml:"multiplier"`
	Jitter     float64       `yaml:"jitter"`
}

// Validate implements Validator; every problem names its option.
func (o *BatchfeedOptions) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, Field(key, format, args...)) }
	absURL := func(key, v, what string) {
		if v == "" {
			bad(key, "required; %s", what)
		} else if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q: want an absolute http:// or https:// URL", v)
		}
	}
	absURL("base_url", o.BaseURL, "the API root; /eventnotifications/v2/{feed_id}/… is appended")
	known := strings.Join(batchfeed.KnownFeeds, ", ")
	switch {
	case o.FeedID == "":
		bad("feed_id", "required; one of %s", known)
	case strings.ContainsAny(o.FeedID, "/?#% "):
		bad("feed_id", "%q is not a feed id; want one of %s", o.FeedID, known)
	case !slices.Contains(batchfeed.KnownFeeds, o.FeedID):
		for _, k := range batchfeed.KnownFeeds {
			if strings.EqualFold(k, o.FeedID) {
				bad("feed_id", "%q: feed ids are case-sensitive, did you mean %q?", o.FeedID, k)
			}
		}
	}
	if a := o.Auth.OAuth2; a != nil {
		if o.Auth.Token != "" {
			bad("auth", "give either token or oauth2, not both")
		}
		absURL("auth.oauth2.token_url", a.TokenURL, "the OAuth2 token endpoint")
		if a.ClientID == "" {
			bad("auth.oauth2.client_id", "required")
		}
		if a.ClientSecret == "" {
			bad("auth.oauth2.client_secret", "required; use ${ENV} rather than writing it in the file")
		}
		if a.RefreshBefore < 0 {
			bad("auth.oauth2.refresh_before", "must not be negative")
		}
	}
	if strings.ContainsAny(o.TenantHeader, " :\r\n") {
		bad("tenant_header", "%q is not a header name", o.TenantHeader)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"poll_interval", o.PollInterval}, {"request_timeout", o.RequestTimeout}, {"discard_timeout", o.DiscardTimeout},
		{"backoff.initial", o.Backoff.Initial}, {"backoff.max", o.Backoff.Max},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if o.Backoff.Max > 0 && o.Backoff.Max < o.Backoff.Initial {
		bad("backoff.max", "%s is below backoff.initial %s", o.Backoff.Max, o.Backoff.Initial)
	}
	if o.Backoff.Multiplier != 0 && o.Backoff.Multiplier < 1 {
		bad("backoff.multiplier", "%g: want at least 1", o.Backoff.Multiplier)
	}
	if o.PollJitter >= 1 {
		bad("poll_jitter", "%g: want a fraction below 1 (negative: none)", o.PollJitter)
	}
	if o.Backoff.Jitter >= 1 {
		bad("backoff.jitter", "%g: want a fraction below 1 (negative: none)", o.Backoff.Jitter)
	}
	if o.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must not be negative")
	}
	return errors.Join(errs...)
}

// Config maps the options onto batchfeed.Config; name labels logs and metrics.
func (o *BatchfeedOptions) Config(name string) batchfeed.Config {
	cfg := batchfeed.Config{
		BaseURL:        o.BaseURL,
		FeedID:         o.FeedID,
		Name:           name,
		TenantID:       o.TenantID,
		TenantHeader:   o.TenantHeader,
		RequestTimeout: o.RequestTimeout,
		DiscardTimeout: o.DiscardTimeout,
		MaxBodyBytes:   o.MaxBodyBytes,
		PollInterval:   o.PollInterval,
		PollJitter:     o.PollJitter,
		Backoff: batchfeed.Backoff{
			Initial: o.Backoff.Initial, Max: o.Backoff.Max, Multiplier: o.Backoff.Multiplier, Jitter: o.Backoff.Jitter,
		},
		Unordered: o.Unordered,
	}
	switch a := o.Auth; {
	case a.OAuth2 != nil:
		cc := clientcredentials.Config{
			ClientID: a.OAuth2.ClientID, ClientSecret: a.OAuth2.ClientSecret,
			TokenURL: a.OAuth2.TokenURL, Scopes: a.OAuth2.Scopes,
		}
		if len(a.OAuth2.Params) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range a.OAuth2.Params {
				cc.EndpointParams.Set(k, v)
			}
		}
		refresh := a.OAuth2.RefreshBefore
		if refresh == 0 {
			refresh = time.Minute
		}
		// Background: token requests outlive any one call (batchfeed bounds them).
		cfg.TokenSource = batchfeed.ClientCredentials(context.Background(), cc, refresh)
	case a.Token != "":
		cfg.TokenSource = batchfeed.StaticToken(a.Token)
	}
	return cfg
}

// BatchfeedSource is a batchfeed.Source (starting a trace per
// notification) that can discard its feed.
type BatchfeedSource struct {
	*tracingSubscriber
	src  *batchfeed.Source
	feed string
}

// DiscardAll implements Discarder with the provider's discardAll. The
// request's Confirm is batchfeed's own guard: without it nothing is sent.
// The provider does not say how many events it archived.
func (s *BatchfeedSource) DiscardAll(ctx context.Context, req DiscardRequest) (DiscardResult, error) {
	err := s.src.Client().DiscardAll(ctx, batchfeed.DiscardAllOptions{Confirm: req.Confirm, Reason: req.Reason, Operator: req.Operator})
	if err != nil {
		return DiscardResult{}, err
	}
	return DiscardResult{Count: -1, Detail: fmt.Sprintf("(feed %q emptied; its events are in the provider's archive)", s.feed)}, nil
}
