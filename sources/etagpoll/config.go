package etagpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
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

// Config configures a Source. Zero values take the defaults noted; the query
// names and values default to the ETag event-log protocol's.
type Config struct {
	// Name is the source's name: metadata tributary_source, metric and log
	// label, and (prefixed "etagpoll/") its checkpoint key. Required.
	Name string
	// BaseURL is the API root, e.g. https://api.example.com. Required.
	BaseURL string
	// Path of the event-log collection; "/eventlogs".
	Path string
	// Checkpoints stores cursor and ETag durably. Required.
	Checkpoints Checkpointer
	// CheckpointKey overrides the checkpoint key ("etagpoll/"+Name).
	CheckpointKey string

	// AuthHeader carries the credential; "Authorization".
	AuthHeader string
	// AuthValue is the secret, e.g. "Bearer …" or an API key. Never logged.
	AuthValue string
	// Header holds extra request headers (not secrets: they may be logged).
	Header http.Header
	// ExtraQuery is added to every request.
	ExtraQuery url.Values

	// LimitParam and LimitValue make the change probe small: "limit", "1".
	LimitParam string
	LimitValue string
	// StartDateParam carries the lower bound of the fetch window: "startDate".
	StartDateParam string
	// StartDateFormat formats it (Go layout, always in UTC); milliseconds
	// RFC 3339 like JavaScript's toISOString() when empty.
	StartDateFormat string
	// OrderByParam and OrderByValue: "orderBy", "createdAt:DESC".
	OrderByParam string
	OrderByValue string

	// Paging: Auto when empty. Whatever the scheme, a Link rel="next"
	// header, when the API sends one, is followed instead.
	Paging Paging
	// PageParam names the page number: "page". With Paging Offset and no
	// OffsetParam it names the offset instead (as it did before OffsetParam).
	PageParam string
	// OffsetParam names the offset: "offset".
	OffsetParam string
	// FirstPage is the number of the first page: 1 when zero.
	FirstPage int
	// PageSizeParam and PageSize ask for pages of PageSize items ("limit",
	// 100). PageSize < 0 sends no page size. A window is exhausted only at an
	// empty page, so an API that caps the page below PageSize loses nothing.
	PageSizeParam string
	PageSize      int
	// MaxPages bounds one poll; a window needing more fails the poll: 1000.
	MaxPages int

	// Fields of an event and of the response envelope.
	// IDField "id", CreatedAtField "createdAt", TypeField "type",
	// TimestampField "timestamp" (when the door was unlocked; kept apart from
	// createdAt, the server's insertion time that the cursor follows).
	// ItemsField names the array when the body is an object: "data".
	IDField, CreatedAtField, TypeField, TimestampField, ItemsField string

	// Overlap is re-read below the cursor on every fetch: 5 min. It is also
	// how long, after the cursor last moved, the window is re-read on every
	// poll although the probe answers 304 (late events do not change the
	// newest event, so they need not change the probe's ETag): that costs
	// ceil(Overlap/Interval)+1 window reads after each change.
	Overlap time.Duration
	// StartFrom is where a source without checkpoint begins. When zero it
	// begins Overlap before the server's time (its Date header) of the first
	// request, so that events stamped by a clock up to Overlap behind the
	// Date header are read.
	StartFrom time.Time

	// Interval between polls: 60 s, the protocol's recommended minimum. A
	// longer X-Poll-Interval from the server wins.
	Interval time.Duration
	// Jitter adds up to this fraction of each wait, so many sources spread
	// out: 0.1. Negative disables it.
	Jitter float64
	// BackoffBase is the wait after the first failed poll, doubled for each
	// further failure up to MaxBackoff: Interval and 15 min (at least Interval).
	BackoffBase time.Duration
	MaxBackoff  time.Duration
	// MaxRetryAfter caps a server's Retry-After: 1 h.
	MaxRetryAfter time.Duration
	// RedeliverDelay spaces redeliveries of a nacked message: 1 s.
	RedeliverDelay time.Duration

	// RequestTimeout bounds each HTTP request, body included: 30 s.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a response body: 10 MiB.
	MaxBodyBytes int64
	// HTTPClient is used for requests (its redirect policy is wrapped so that
	// a redirect to another host is refused); http.DefaultClient's transport when nil.
	HTTPClient *http.Client

	// OptionNames maps a field of Config ("Paging") to the name its user
	// set it by ("paging" in a YAML file), for errors and logs. A field
	// without an entry is named "Config.<Field>".
	OptionNames map[string]string
}

// option is how errors and logs name the Config field f.
func (c Config) option(f string) string {
	if n, ok := c.OptionNames[f]; ok && n != "" {
		return n
	}
	return "Config." + f
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Path, "/eventlogs")
	def(&c.AuthHeader, "Authorization")
	def(&c.LimitParam, "limit")
	def(&c.LimitValue, "1")
	def(&c.StartDateParam, "startDate")
	def(&c.StartDateFormat, "2006-01-02T15:04:05.000Z07:00")
	def(&c.OrderByParam, "orderBy")
	def(&c.OrderByValue, "createdAt:DESC")
	def(&c.IDField, "id")
	def(&c.CreatedAtField, "createdAt")
	def(&c.TypeField, "type")
	def(&c.TimestampField, "timestamp")
	def(&c.ItemsField, "data")
	def(&c.PageSizeParam, "limit")
	if c.Paging == "" {
		c.Paging = Auto
	}
	if c.OffsetParam == "" {
		if c.Paging == Offset && c.PageParam != "" {
			c.OffsetParam = c.PageParam
		} else {
			c.OffsetParam = "offset"
		}
	}
	def(&c.PageParam, "page")
	if c.FirstPage == 0 {
		c.FirstPage = 1
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	if c.MaxPages == 0 {
		c.MaxPages = 1000
	}
	if c.CheckpointKey == "" {
		c.CheckpointKey = "etagpoll/" + c.Name
	}
	if c.Overlap == 0 {
		c.Overlap = 5 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = 60 * time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = c.Interval
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 15 * time.Minute
		if c.MaxBackoff < c.Interval {
			c.MaxBackoff = c.Interval
		}
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = time.Hour
	}
	if c.RedeliverDelay == 0 {
		c.RedeliverDelay = time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 10 << 20
	}
}

// Validate reports every problem with c (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, fmt.Errorf("etagpoll: %s is required", c.option("Name")))
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("etagpoll: %s %q: want an absolute http(s) URL", c.option("BaseURL"), c.BaseURL))
	}
	if c.Checkpoints == nil {
		errs = append(errs, errors.New("etagpoll: Config.Checkpoints is required (checkpoint.NewStore(pool))"))
	}
	switch c.Paging {
	case Auto, PageNumber, Offset, Link, NoPaging:
	default:
		errs = append(errs, fmt.Errorf("etagpoll: %s %q: want auto, page, offset, link or none", c.option("Paging"), c.Paging))
	}
	if c.Overlap < 0 {
		errs = append(errs, fmt.Errorf("etagpoll: %s must not be negative: it is what catches late events", c.option("Overlap")))
	}
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"Interval", int64(c.Interval)}, {"BackoffBase", int64(c.BackoffBase)}, {"MaxBackoff", int64(c.MaxBackoff)},
		{"MaxRetryAfter", int64(c.MaxRetryAfter)}, {"RedeliverDelay", int64(c.RedeliverDelay)},
		{"RequestTimeout", int64(c.RequestTimeout)}, {"MaxBodyBytes", c.MaxBodyBytes}, {"MaxPages", int64(c.MaxPages)},
	} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("etagpoll: %s must not be negative", c.option(f.name)))
		}
	}
	return errors.Join(errs...)
}
