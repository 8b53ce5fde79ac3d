package etagpoll

import (
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
// protocol's minimum interval nor the server's requests are ever undercut.
func (s *Source) nextWait(failures int, serverInterval, retryAfter time.Duration) time.Duration {
	d := s.cfg.Interval
	if failures > 0 {
		d = max(d, backoff.Exponential(s.cfg.BackoffBase, 2, failures-1, s.cfg.MaxBackoff))
	}
	d = backoff.JitterUp(max(d, serverInterval), s.cfg.Jitter)
	return max(d, min(retryAfter, s.cfg.MaxRetryAfter))
}

// pollInterval reads X-Poll-Interval (seconds), as some event APIs send it.
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
