package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps the wait ParseRetryAfter returns. A server asking for
// more than a day is more likely misconfigured than meaning it, and a
// message or a source held that long looks stuck; callers may cap lower.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads the Retry-After header of an HTTP answer (RFC 9110
// §10.2.3): delay-seconds or an HTTP-date. A date is measured against the
// answer's own Date header when it has a valid one, so that skew between the
// server's clock and ours does not distort it, else against now. The wait is
// at least 0 (a date in the past) and at most MaxRetryAfter, however large
// the number sent. ok is false when the header is absent or malformed.
//
// Sinks pass the result to RetryAfter; sources wait it out before their
// next request.
func ParseRetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		// Digits only, no sign. A value past uint64 is ErrRange with
		// secs at its maximum: capped like any other.
		secs, _ := strconv.ParseUint(v, 10, 64)
		return time.Duration(min(secs, uint64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	// Sub saturates rather than overflows for dates centuries apart.
	return min(max(at.Sub(now), 0), MaxRetryAfter), true
}
