package components

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/sources/checkpoint"
	"github.com/tributary-dev/tributary/sources/etagpoll"
)

// The etagpoll source polls an event log with ETags. Its options map one to
// one onto etagpoll.Config; unset ones keep the package's defaults, which
// are the ETag event-log protocol's (GET /eventlogs, ?limit=1 probe,
// ?startDate=…&orderBy=createdAt:DESC, 60 s interval) with paging detected.
func init() {
	RegisterSource("etagpoll", "polls an ETag event log: conditional probe, then the events since the cursor",
		func(env Env, o *EtagpollOptions) (message.Subscriber, error) {
			if env.Pool == nil {
				return nil, errors.New("etagpoll: needs the database for its checkpoint")
			}
			cfg, err := o.Config(env.Pipeline, env.Name)
			if err != nil {
				return nil, err
			}
			cfg.Checkpoints = checkpoint.NewStore(env.Pool)
			src, err := etagpoll.NewSource(cfg, withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			if err != nil {
				return nil, err
			}
			return startTraces(src), nil
		})
}

// EtagpollOptions configures the etagpoll source; see etagpoll.Config for
// what each field means.
type EtagpollOptions struct {
	BaseURL string `yaml:"base_url"`
	Path    string `yaml:"path"`

	// Token is sent as "Authorization: Bearer <token>". For another scheme
	// or header set AuthHeader and AuthValue instead. Use ${ENV}.
	Token      string            `yaml:"token"`
	AuthHeader string            `yaml:"auth_header"`
	AuthValue  string            `yaml:"auth_value"`
	Headers    map[string]string `yaml:"headers"`
	Query      map[string]string `yaml:"query"`

	LimitParam      string `yaml:"limit_param"`
	LimitValue      string `yaml:"limit_value"`
	StartDateParam  string `yaml:"start_date_param"`
	StartDateFormat string `yaml:"start_date_format"`
	OrderByParam    string `yaml:"order_by_param"`
	OrderByValue    string `yaml:"order_by_value"`

	Paging        string `yaml:"paging"`
	PageParam     string `yaml:"page_param"`
	OffsetParam   string `yaml:"offset_param"`
	FirstPage     int    `yaml:"first_page"`
	PageSizeParam string `yaml:"page_size_param"`
	PageSize      int    `yaml:"page_size"`
	MaxPages      int    `yaml:"max_pages"`

	IDField        string `yaml:"id_field"`
	CreatedAtField string `yaml:"created_at_field"`
	TypeField      string `yaml:"type_field"`
	TimestampField string `yaml:"timestamp_field"`
	ItemsField     string `yaml:"items_field"`

	Overlap time.Duration `yaml:"overlap"`
	// StartFrom is an RFC 3339 time; empty starts at the server's clock.
	StartFrom string `yaml:"start_from"`

	Interval       time.Duration `yaml:"interval"`
	Jitter         float64       `yaml:"jitter"`
	BackoffBase    time.Duration `yaml:"backoff_base"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	MaxRetryAfter  time.Duration `yaml:"max_retry_after"`
	RedeliverDelay time.Duration `yaml:"redeliver_delay"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`

	// CheckpointKey overrides the key ("etagpoll/<pipeline>/<source>"):
	// set it to keep the cursor when renaming a source.
	CheckpointKey string `yaml:"checkpoint_key"`
}

// Validate implements Validator; every problem names its option.
func (o *EtagpollOptions) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, Field(key, format, args...)) }
	if o.BaseURL == "" {
		bad("base_url", "required; the API root, e.g. https://api.example.com")
	} else if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "%q: want an absolute http:// or https:// URL", o.BaseURL)
	}
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		bad("path", "%q: want a path starting with /", o.Path)
	}
	if o.Token != "" && (o.AuthHeader != "" || o.AuthValue != "") {
		bad("token", "give either token (a Bearer token) or auth_header/auth_value, not both")
	}
	if o.AuthHeader != "" && o.AuthValue == "" {
		bad("auth_value", "required with auth_header")
	}
	for _, h := range []struct{ key, v string }{{"auth_header", o.AuthHeader}} {
		if strings.ContainsAny(h.v, " :\r\n") {
			bad(h.key, "%q is not a header name", h.v)
		}
	}
	for k := range o.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
	}
	switch etagpoll.Paging(o.Paging) {
	case "", etagpoll.Auto, etagpoll.PageNumber, etagpoll.Offset, etagpoll.Link, etagpoll.NoPaging:
	default:
		bad("paging", "%q: want auto, page, offset, link or none", o.Paging)
	}
	if o.FirstPage < 0 {
		bad("first_page", "must not be negative")
	}
	if o.MaxPages < 0 {
		bad("max_pages", "must not be negative")
	}
	if o.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must not be negative")
	}
	if o.StartDateFormat != "" {
		probe := time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC)
		if t, err := time.Parse(o.StartDateFormat, probe.Format(o.StartDateFormat)); err != nil || t.Year() != 2026 {
			bad("start_date_format", "%q: want a Go time layout such as 2006-01-02T15:04:05.000Z07:00", o.StartDateFormat)
		}
	}
	if o.StartFrom != "" {
		if _, err := time.Parse(time.RFC3339Nano, o.StartFrom); err != nil {
			bad("start_from", "%q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", o.StartFrom)
		}
	}
	if o.Jitter >= 1 {
		bad("jitter", "%g: want a fraction below 1 (negative: none)", o.Jitter)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"overlap", o.Overlap}, {"interval", o.Interval}, {"backoff_base", o.BackoffBase}, {"max_backoff", o.MaxBackoff},
		{"max_retry_after", o.MaxRetryAfter}, {"redeliver_delay", o.RedeliverDelay}, {"request_timeout", o.RequestTimeout},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if o.MaxBackoff > 0 && o.BackoffBase > o.MaxBackoff {
		bad("max_backoff", "%s is below backoff_base %s", o.MaxBackoff, o.BackoffBase)
	}
	return errors.Join(errs...)
}

// Config maps the options onto etagpoll.Config (without Checkpoints).
func (o *EtagpollOptions) Config(pipeline, name string) (etagpoll.Config, error) {
	cfg := etagpoll.Config{
		Name:            name,
		BaseURL:         o.BaseURL,
		Path:            o.Path,
		CheckpointKey:   o.CheckpointKey,
		AuthHeader:      o.AuthHeader,
		AuthValue:       o.AuthValue,
		LimitParam:      o.LimitParam,
		LimitValue:      o.LimitValue,
		StartDateParam:  o.StartDateParam,
		StartDateFormat: o.StartDateFormat,
		OrderByParam:    o.OrderByParam,
		OrderByValue:    o.OrderByValue,
		Paging:          etagpoll.Paging(o.Paging),
		PageParam:       o.PageParam,
		OffsetParam:     o.OffsetParam,
		FirstPage:       o.FirstPage,
		PageSizeParam:   o.PageSizeParam,
		PageSize:        o.PageSize,
		MaxPages:        o.MaxPages,
		IDField:         o.IDField,
		CreatedAtField:  o.CreatedAtField,
		TypeField:       o.TypeField,
		TimestampField:  o.TimestampField,
		ItemsField:      o.ItemsField,
		Overlap:         o.Overlap,
		Interval:        o.Interval,
		Jitter:          o.Jitter,
		BackoffBase:     o.BackoffBase,
		MaxBackoff:      o.MaxBackoff,
		MaxRetryAfter:   o.MaxRetryAfter,
		RedeliverDelay:  o.RedeliverDelay,
		RequestTimeout:  o.RequestTimeout,
		MaxBodyBytes:    o.MaxBodyBytes,
		OptionNames:     etagpollOptionNames,
	}
	if cfg.CheckpointKey == "" {
		// Per pipeline: two pipelines may name a source alike.
		cfg.CheckpointKey = "etagpoll/" + pipeline + "/" + name
	}
	if o.Token != "" {
		cfg.AuthValue = "Bearer " + o.Token
	}
	if len(o.Headers) > 0 {
		cfg.Header = http.Header{}
		for k, v := range o.Headers {
			cfg.Header.Set(k, v)
		}
	}
	if len(o.Query) > 0 {
		cfg.ExtraQuery = url.Values{}
		for k, v := range o.Query {
			cfg.ExtraQuery.Set(k, v)
		}
	}
	if o.StartFrom != "" {
		t, err := time.Parse(time.RFC3339Nano, o.StartFrom)
		if err != nil {
			return etagpoll.Config{}, Field("start_from", "%q: want an RFC 3339 time", o.StartFrom)
		}
		cfg.StartFrom = t
	}
	return cfg, nil
}

// etagpollOptionNames maps etagpoll.Config's fields to the keys that set
// them, so that the source's errors and logs name what the user wrote
// ("set paging to auto", not "set Config.Paging"): an option's key where its
// Go name is the Config field's, plus the few whose names differ.
var etagpollOptionNames = func() map[string]string {
	names := map[string]string{"Header": "headers", "ExtraQuery": "query"}
	t := reflect.TypeFor[EtagpollOptions]()
	for i := range t.NumField() {
		f := t.Field(i)
		if key, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); key != "" && key != "-" {
			names[f.Name] = key
		}
	}
	return names
}()
