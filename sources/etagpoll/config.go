package etagpoll

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
)

// Paging says how the fetch asks for the next page of a window.
type Paging string

const (
	// Auto (the default) detects the API's scheme on the first window that
	// needs a second request, remembers it for the life of the Source and
	// logs it once: a Link rel="next" header means Link; otherwise page 2 is
	// asked for by PageParam, and if the API answers page 1 again, by
	// OffsetParam; if that repeats page 1 too, the API pages only by Link
	// (or not at all), and a page without Link ends the window.
	Auto Paging = "auto"
	// PageNumber sends PageParam=FirstPage, FirstPage+1, ….
	PageNumber Paging = "page"
	// Offset sends OffsetParam=0, n, 2n, … where n counts the items received.
	Offset Paging = "offset"
	// Link follows Link rel="next" headers; a page without one ends the window.
	Link Paging = "link"
	// NoPaging fetches a single page. Use only when the API never truncates.
	NoPaging Paging = "none"
)

// Checkpointer stores the source's cursor; *checkpoint.Store implements it.
type Checkpointer interface {
	Load(ctx context.Context, source string, v any) (bool, error)
	Save(ctx context.Context, source string, v any) error
}

// Config configures a Source. It is also what a pipeline file's `options:`
// block for an etagpoll source decodes into: each field's yaml tag is its
// key there, so an option is written once, here. Zero values take the
// defaults noted; the query names and values default to the ETag event-log
// protocol's.
type Config struct {
	// BaseURL is the API root, e.g. https://api.example.com. Required.
	BaseURL string `yaml:"base_url"`
	// Path of the event-log collection; "/eventlogs".
	Path string `yaml:"path"`
	// Checkpoints stores cursor and ETag durably. Required by NewSource.
	Checkpoints Checkpointer `yaml:"-"`
	// CheckpointKey overrides the checkpoint key, "etagpoll/" and the
	// source's name in its pipeline (router.Source.Name, given through
	// Instrument): set it to keep the cursor when renaming a source, or to
	// run the source outside a router.
	CheckpointKey string `yaml:"checkpoint_key"`

	// Token is sent as "Authorization: Bearer <token>"; for another scheme
	// or header set AuthHeader and AuthValue instead. Never logged.
	Token string `yaml:"token"`
	// AuthHeader carries the credential; "Authorization".
	AuthHeader string `yaml:"auth_header"`
	// AuthValue is the secret, e.g. "Bearer …" or an API key. Never logged.
	AuthValue string `yaml:"auth_value"`
	// Headers are extra request headers (not secrets: they may be logged).
	Headers map[string]string `yaml:"headers"`
	// Query is added to every request.
	Query map[string]string `yaml:"query"`

	// LimitParam and LimitValue make the change probe small: "limit", "1".
	LimitParam string `yaml:"limit_param"`
	LimitValue string `yaml:"limit_value"`
	// StartDateParam carries the lower bound of the fetch window: "startDate".
	StartDateParam string `yaml:"start_date_param"`
	// StartDateFormat formats it (Go layout, always in UTC); milliseconds
	// RFC 3339 like JavaScript's toISOString() when empty.
	StartDateFormat string `yaml:"start_date_format"`
	// OrderByParam and OrderByValue: "orderBy", "createdAt:DESC".
	OrderByParam string `yaml:"order_by_param"`
	OrderByValue string `yaml:"order_by_value"`

	// Paging: Auto when empty. Whatever the scheme, a Link rel="next"
	// header, when the API sends one, is followed instead.
	Paging Paging `yaml:"paging"`
	// PageParam names the page number: "page". With Paging Offset and no
	// OffsetParam it names the offset instead (as it did before OffsetParam).
	PageParam string `yaml:"page_param"`
	// OffsetParam names the offset: "offset".
	OffsetParam string `yaml:"offset_param"`
	// FirstPage is the number of the first page: 1 when zero.
	FirstPage int `yaml:"first_page"`
	// PageSizeParam and PageSize ask for pages of PageSize items ("limit",
	// 100). PageSize < 0 sends no page size. A window is exhausted only at an
	// empty page, so an API that caps the page below PageSize loses nothing.
	PageSizeParam string `yaml:"page_size_param"`
	PageSize      int    `yaml:"page_size"`
	// MaxPages bounds one poll; a window needing more fails the poll: 1000.
	MaxPages int `yaml:"max_pages"`

	// Fields of an event and of the response envelope.
	// IDField "id", CreatedAtField "createdAt", TypeField "type",
	// TimestampField "timestamp" (when the door was unlocked; kept apart from
	// createdAt, the server's insertion time that the cursor follows).
	// ItemsField names the array when the body is an object: "data".
	IDField        string `yaml:"id_field"`
	CreatedAtField string `yaml:"created_at_field"`
	TypeField      string `yaml:"type_field"`
	TimestampField string `yaml:"timestamp_field"`
	ItemsField     string `yaml:"items_field"`

	// Overlap is re-read below the cursor on every fetch: 5 min. It is also
	// how long, after the cursor last moved, the window is re-read although
	// the probe answers 304 (see the package doc).
	Overlap time.Duration `yaml:"overlap"`
	// StartFrom is where a source without checkpoint begins (an RFC 3339
	// time in a file). When zero it begins Overlap before the server's time
	// (its Date header) of the first request, so that events stamped by a
	// clock up to Overlap behind the Date header are read.
	StartFrom time.Time `yaml:"start_from"`

	// Interval between polls: 60 s, the protocol's recommended minimum. A
	// longer X-Poll-Interval from the server wins.
	Interval time.Duration `yaml:"interval"`
	// Jitter adds up to this fraction of each wait, so many sources spread
	// out: 0.1. Negative disables it.
	Jitter float64 `yaml:"jitter"`
	// BackoffBase is the wait after the first failed poll, doubled for each
	// further failure up to MaxBackoff: Interval and 15 min (at least Interval).
	BackoffBase time.Duration `yaml:"backoff_base"`
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter caps a server's Retry-After: 1 h.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// RedeliverDelay spaces redeliveries of a nacked message: 1 s.
	RedeliverDelay time.Duration `yaml:"redeliver_delay"`

	// RequestTimeout bounds each HTTP request, body included: 30 s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxBodyBytes bounds a response body: 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// HTTPClient is used for requests (its redirect policy is wrapped so that
	// a redirect to another host is refused); http.DefaultClient's transport when nil.
	HTTPClient *http.Client `yaml:"-"`
}

func (c *Config) setDefaults() {
	c.Path = cmp.Or(c.Path, "/eventlogs")
	c.AuthHeader = cmp.Or(c.AuthHeader, "Authorization")
	c.LimitParam = cmp.Or(c.LimitParam, "limit")
	c.LimitValue = cmp.Or(c.LimitValue, "1")
	c.StartDateParam = cmp.Or(c.StartDateParam, "startDate")
	c.StartDateFormat = cmp.Or(c.StartDateFormat, "2006-01-02T15:04:05.000Z07:00")
	c.OrderByParam = cmp.Or(c.OrderByParam, "orderBy")
	c.OrderByValue = cmp.Or(c.OrderByValue, "createdAt:DESC")
	c.IDField = cmp.Or(c.IDField, "id")
	c.CreatedAtField = cmp.Or(c.CreatedAtField, "createdAt")
	c.TypeField = cmp.Or(c.TypeField, "type")
	c.TimestampField = cmp.Or(c.TimestampField, "timestamp")
	c.ItemsField = cmp.Or(c.ItemsField, "data")
	c.PageSizeParam = cmp.Or(c.PageSizeParam, "limit")
	c.Paging = cmp.Or(c.Paging, Auto)
	if c.OffsetParam == "" {
		c.OffsetParam = "offset"
		if c.Paging == Offset && c.PageParam != "" {
			c.OffsetParam = c.PageParam
		}
	}
	c.PageParam = cmp.Or(c.PageParam, "page")
	c.FirstPage = cmp.Or(c.FirstPage, 1)
	c.PageSize = cmp.Or(c.PageSize, 100)
	c.MaxPages = cmp.Or(c.MaxPages, 1000)
	if c.Token != "" && c.AuthValue == "" {
		c.AuthValue = "Bearer " + c.Token
	}
	c.Overlap = cmp.Or(c.Overlap, 5*time.Minute)
	c.Interval = cmp.Or(c.Interval, 60*time.Second)
	c.Jitter = max(cmp.Or(c.Jitter, 0.1), 0)
	c.BackoffBase = cmp.Or(c.BackoffBase, c.Interval)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, max(15*time.Minute, c.Interval))
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, time.Hour)
	c.RedeliverDelay = cmp.Or(c.RedeliverDelay, time.Second)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, 30*time.Second)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 10<<20)
}

// Validate reports every problem with the options, each an
// *tributary.OptionError naming its key. It checks c as NewSource will use
// it (with defaults) but does not change c, and leaves out what only
// NewSource needs (Checkpoints), so that a file can be checked
// without a database.
func (c Config) Validate() error {
	raw := c
	c.setDefaults()
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	if c.BaseURL == "" {
		bad("base_url", "required; the API root, e.g. https://api.example.com")
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "%q: want an absolute http:// or https:// URL", c.BaseURL)
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		bad("path", "%q: want a path starting with /", c.Path)
	}
	if raw.Token != "" && (raw.AuthHeader != "" || raw.AuthValue != "") {
		bad("token", "give either token (a Bearer token) or auth_header/auth_value, not both")
	}
	if raw.AuthHeader != "" && raw.AuthValue == "" {
		bad("auth_value", "required with auth_header")
	}
	if strings.ContainsAny(c.AuthHeader, " :\r\n") {
		bad("auth_header", "%q is not a header name", c.AuthHeader)
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
	}
	switch c.Paging {
	case Auto, PageNumber, Offset, Link, NoPaging:
	default:
		bad("paging", "%q: want auto, page, offset, link or none", c.Paging)
	}
	probe := time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC)
	if t, err := time.Parse(c.StartDateFormat, probe.Format(c.StartDateFormat)); err != nil || t.Year() != 2026 {
		bad("start_date_format", "%q: want a Go time layout such as 2006-01-02T15:04:05.000Z07:00", c.StartDateFormat)
	}
	if c.Jitter >= 1 {
		bad("jitter", "%g: want a fraction below 1 (negative: none)", c.Jitter)
	}
	if c.Overlap < 0 {
		bad("overlap", "must not be negative: it is what catches late events")
	}
	for _, d := range []struct {
		key string
		v   float64
	}{
		{"first_page", float64(c.FirstPage)}, {"max_pages", float64(c.MaxPages)}, {"max_body_bytes", float64(c.MaxBodyBytes)},
		{"interval", float64(raw.Interval)}, {"backoff_base", float64(raw.BackoffBase)}, {"max_backoff", float64(raw.MaxBackoff)},
		{"max_retry_after", float64(raw.MaxRetryAfter)}, {"redeliver_delay", float64(raw.RedeliverDelay)},
		{"request_timeout", float64(raw.RequestTimeout)},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if c.BackoffBase > 0 && c.BackoffBase > c.MaxBackoff {
		bad("max_backoff", "%s is below backoff_base %s", c.MaxBackoff, c.BackoffBase)
	}
	return errors.Join(errs...)
}
