package etagpoll

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
)

func (s *Source) endpoint(q url.Values) *url.URL {
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + s.cfg.Path
	all := url.Values{}
	for k, vs := range s.cfg.ExtraQuery {
		all[k] = append([]string(nil), vs...)
	}
	for k, vs := range q {
		all[k] = vs
	}
	u.RawQuery = all.Encode()
	return &u
}

func (s *Source) probeURL() *url.URL {
	return s.endpoint(url.Values{s.cfg.LimitParam: {s.cfg.LimitValue}})
}

// pageURL is the fetch of the window from since; page counts from 0.
func (s *Source) pageURL(since time.Time, page, received int) *url.URL {
	q := url.Values{
		s.cfg.StartDateParam: {since.UTC().Format(s.cfg.StartDateFormat)},
		s.cfg.OrderByParam:   {s.cfg.OrderByValue},
	}
	if s.cfg.PageSize > 0 {
		q.Set(s.cfg.PageSizeParam, formatInt(s.cfg.PageSize))
	}
	switch s.cfg.Paging {
	case PageNumber:
		q.Set(s.cfg.PageParam, formatInt(s.cfg.FirstPage+page))
	case Offset:
		q.Set(s.cfg.PageParam, formatInt(received))
	}
	return s.endpoint(q)
}

// fetchWindow reads every event with createdAt ≥ since, following pages until
// an empty one (or the end of a Link rel="next" chain), and returns them
// oldest first, each id once. Events inserted meanwhile only shift a
// newest-first listing towards later pages, so they show up twice at worst;
// the ones a page boundary hides are re-read by the next poll's overlap.
func (s *Source) fetchWindow(ctx context.Context, since time.Time) ([]Event, error) {
	// The bound as the server sees it: the formatted value, whose precision
	// may be coarser than ours.
	sent, err := time.Parse(s.cfg.StartDateFormat, since.UTC().Format(s.cfg.StartDateFormat))
	if err != nil {
		sent = since
	}
	seen := map[string]bool{}
	var all []Event
	var prevIDs []string
	u := s.pageURL(since, 0, 0)
	linked := false
	received := 0
	for page := 0; ; page++ {
		if page >= s.cfg.MaxPages {
			return nil, failf("paging", "window from %s needs more than %d pages (MaxPages)", since.Format(time.RFC3339), s.cfg.MaxPages)
		}
		r, err := s.get(ctx, "fetch", u, "")
		if err != nil {
			return nil, err
		}
		if r.status < 200 || r.status > 299 {
			return nil, s.statusError("fetch", r)
		}
		events, err := parseEvents(r.body, s.cfg.fields())
		if err != nil {
			kind := "decode"
			if errors.Is(err, errBadEvent) {
				kind = "invalid_event"
			}
			return nil, failf(kind, "fetch %s page %d: %v", u.Path, page+1, err)
		}
		if len(events) == 0 {
			break
		}
		ids := make([]string, len(events))
		for i, ev := range events {
			ids[i] = ev.ID
		}
		if slices.Equal(ids, prevIDs) {
			return nil, failf("paging", "fetch %s: page %d repeats page %d: the API ignores %q; set Config.Paging", u.Path, page+1, page, s.cfg.PageParam)
		}
		prevIDs = ids
		received += len(events)
		inWindow := 0
		for _, ev := range events {
			if ev.CreatedAt.Before(sent) {
				continue // below the window: the API did not filter
			}
			inWindow++
			if !seen[ev.ID] {
				seen[ev.ID] = true
				all = append(all, ev)
			}
		}
		if inWindow == 0 || s.cfg.Paging == NoPaging {
			// A whole page below the window: newest first, so the rest is older.
			break
		}
		if next := nextLink(r.header); next != "" {
			nu, err := r.url.Parse(next)
			if err != nil {
				return nil, failf("paging", "fetch: bad Link next %q: %v", next, err)
			}
			if !sameOrigin(nu, s.base) {
				return nil, &pollError{kind: "redirect", err: errors.Join(errForeignRedirect, errors.New("Link rel=next points to another host"))}
			}
			u, linked = nu, true
			continue
		}
		if linked {
			break // the Link chain ended
		}
		u = s.pageURL(since, page+1, received)
	}
	slices.SortStableFunc(all, func(a, b Event) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return all, nil
}
