package etagpoll

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// nextWait is how long to wait before the next poll: the interval (or the
// server's longer X-Poll-Interval) after a success; after the n-th failure in
// a row BackoffBase·2^(n-1) capped at MaxBackoff, never less than a
// Retry-After the server sent. Jitter only lengthens a wait, so neither the
// seed's minimum interval nor the server's requests are ever undercut.
func (s *Source) nextWait(failures int, serverInterval, retryAfter time.Duration) time.Duration {
	d := s.cfg.Interval
	if failures > 0 {
		d = max(d, backoff.Exponential(s.cfg.BackoffBase, 2, failures-1, s.cfg.MaxBackoff))
	}
	d = max(d, serverInterval)
	// Not backoff.Jitter: that one also shortens.
	if s.cfg.Jitter > 0 {
		d += time.Duration(rand.Float64() * s.cfg.Jitter * float64(d))
	}
	return max(d, min(retryAfter, s.cfg.MaxRetryAfter))
}

// retryAfter reads Retry-After: delay-seconds or an HTTP-date, the latter
// measured against the server's own Date header when it sent one so that
// clock skew does not distort it.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return max(at.Sub(now), 0)
}

// pollInterval reads X-Poll-Interval (seconds), as GitHub's events API sends it.
func pollInterval(h http.Header) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Poll-Interval")), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, 24*3600)) * time.Second
}

// nextLink returns the target of a Link header's rel="next", or "".
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			target := strings.TrimSpace(segs[0])
			if len(target) < 2 || target[0] != '<' || target[len(target)-1] != '>' {
				continue
			}
			for _, p := range segs[1:] {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target[1 : len(target)-1]
					}
				}
			}
		}
	}
	return ""
}
