package batchfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// FeedNotFoundError is a 404 on a feed: the feed id is wrong (ids are
// case-sensitive), which retrying cannot fix. It matches ErrConfig.
type FeedNotFoundError struct {
	Feed string
	// Suggestion is the known feed id Feed spells in another case, if any.
	Suggestion string
	// TraceID from the provider's problem+json, for their support.
	TraceID string
}

func (e *FeedNotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batchfeed: feed %q not found (404)", e.Feed)
	b.WriteString("; feed ids are case-sensitive")
	if e.Suggestion != "" {
		fmt.Fprintf(&b, ", did you mean %q?", e.Suggestion)
	}
	fmt.Fprintf(&b, " (valid: %s; or BaseURL is wrong)", strings.Join(KnownFeeds, ", "))
	if e.TraceID != "" {
		fmt.Fprintf(&b, " traceId %s", e.TraceID)
	}
	return b.String()
}

// Is makes a FeedNotFoundError match ErrConfig.
func (e *FeedNotFoundError) Is(target error) bool { return target == ErrConfig }

// ErrBatchNotFound is a 404 on complete for a feed that next just served: the
// batch is gone, completed already (say by a complete whose answer was lost).
var ErrBatchNotFound = errors.New("batch not found")

// StatusError is an unexpected HTTP status.
type StatusError struct {
	Op     string
	Status int
	// Body is the start of the answer, for the log.
	Body string
	// RetryAfter is the wait the provider asked for (Retry-After), if any.
	RetryAfter time.Duration
}

// retryAfter is the wait err's answer asked for, zero if none.
func retryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("batchfeed: %s: HTTP %d", e.Op, e.Status)
	}
	return fmt.Sprintf("batchfeed: %s: HTTP %d: %s", e.Op, e.Status, e.Body)
}

// snippet keeps the start of a body for an error message.
func snippet(body []byte) string {
	const n = 200
	if len(body) > n {
		body = body[:n]
		for len(body) > 0 && !utf8.Valid(body) {
			body = body[:len(body)-1]
		}
		return string(body) + "…"
	}
	return string(body)
}

// traceID digs the traceId out of a problem+json body.
func traceID(body []byte) string {
	var p struct {
		TraceID string `json:"traceId"`
	}
	_ = json.Unmarshal(body, &p)
	return p.TraceID
}

// errorKind labels an error for the errors metric.
func errorKind(err error) string {
	var se *StatusError
	var fe *FeedNotFoundError
	switch {
	case errors.As(err, &fe):
		return "feed_not_found"
	case errors.Is(err, ErrInvalidBatch):
		return "invalid_batch"
	case errors.Is(err, errToken):
		return "auth"
	case errors.As(err, &se):
		switch {
		case se.Status == 401 || se.Status == 403:
			return "auth"
		case se.Status >= 500:
			return "status_5xx"
		case se.Status >= 400:
			return "status_4xx"
		default:
			return "status_unexpected"
		}
	case errors.Is(err, errTimeout):
		return "timeout"
	default:
		return "transport"
	}
}
