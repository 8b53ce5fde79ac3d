package etagpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/internal/sameorigin"
)

func (s *Source) endpoint(q url.Values) *url.URL {
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + s.cfg.Path
	all := url.Values{}
	for k, v := range s.cfg.Query {
		all.Set(k, v)
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

// pageURL is the request for page (counted from 0) of the window from since
// under scheme; received counts the items of the pages before it. Auto, until
// it knows better, asks by page number.
func (s *Source) pageURL(since time.Time, scheme Paging, page, received int) *url.URL {
	q := url.Values{
		s.cfg.StartDateParam: {since.UTC().Format(s.cfg.StartDateFormat)},
		s.cfg.OrderByParam:   {s.cfg.OrderByValue},
	}
	if s.cfg.PageSize > 0 {
		q.Set(s.cfg.PageSizeParam, strconv.Itoa(s.cfg.PageSize))
	}
	switch scheme {
	case Auto, PageNumber:
		q.Set(s.cfg.PageParam, strconv.Itoa(s.cfg.FirstPage+page))
	case Offset:
		q.Set(s.cfg.OffsetParam, strconv.Itoa(received))
	}
	return s.endpoint(q)
}

// detectPaging remembers the scheme Auto found, and says so once.
func (s *Source) detectPaging(p Paging, why string) {
	s.paging = p
	s.logger.Info("Paging detected", watermill.LogFields{
		"paging": string(p), "why": why, "option": "paging",
	})
}

// fetchWindow reads every event with createdAt ≥ since, following pages until
// an empty one (or the end of a Link rel="next" chain), and returns them
// oldest first, each id once. Events inserted meanwhile only shift a
// newest-first listing towards later pages, so they show up twice at worst;
// the ones a page boundary hides are re-read by the next poll's overlap.
//
// A page that contains the newest event of the page before it starts over:
// the API ignored how it was asked for. Under Auto that is how the scheme is
// found (see Auto); under a configured scheme it fails the poll.
func (s *Source) fetchWindow(ctx context.Context, since time.Time) ([]Event, error) {
	// The bound as the server sees it: the formatted value, whose precision
	// may be coarser than ours.
	sent, err := time.Parse(s.cfg.StartDateFormat, since.UTC().Format(s.cfg.StartDateFormat))
	if err != nil {
		sent = since
	}
	scheme := s.cfg.Paging
	if scheme == Auto && s.paging != "" {
		scheme = s.paging
	}
	triedOffset := false // under Auto: page numbers were ignored, offset asked for
	seen := map[string]bool{}
	var all []Event
	var prevIDs []string
	u := s.pageURL(since, scheme, 0, 0)
	linked := scheme == Link
	received := 0
pages:
	for page := 0; ; page++ {
		if page >= s.cfg.MaxPages {
			return nil, failf("paging", "window from %s needs more than %d pages (%s)", since.Format(time.RFC3339), s.cfg.MaxPages, "max_pages")
		}
		r, err := s.get(ctx, "fetch", u, "")
		if err != nil {
			return nil, err
		}
		if scheme == Auto && triedOffset && (r.status == http.StatusBadRequest || r.status == http.StatusUnprocessableEntity) {
			// Page numbers were ignored and the offset refused: as if ignored.
			s.detectPaging(Link, fmt.Sprintf("the API ignores %q, refuses %q (status %d) and sent no Link rel=\"next\": a page without one ends the window", s.cfg.PageParam, s.cfg.OffsetParam, r.status))
			break
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
		ids := make([]string, len(events))
		for i, ev := range events {
			ids[i] = ev.ID
		}
		if len(prevIDs) > 0 && slices.Contains(ids, prevIDs[0]) {
			switch {
			case scheme == Auto && !triedOffset:
				triedOffset = true
				u = s.pageURL(since, Offset, page, received)
				continue
			case scheme == Auto:
				// Neither is honoured and page 1 had no Link: it was the whole window.
				s.detectPaging(Link, fmt.Sprintf("the API ignores %q and %q and sent no Link rel=\"next\": a page without one ends the window", s.cfg.PageParam, s.cfg.OffsetParam))
				break pages
			case s.cfg.Paging == Auto:
				s.paging = "" // the API changed: detect again
				return nil, failf("paging", "fetch %s: page %d repeats page %d: the API no longer pages by %s as detected; detecting again on the next poll", u.Path, page+1, page, scheme)
			default:
				return nil, failf("paging", "fetch %s: page %d repeats page %d: the API does not page by %s; set %s to auto (or to the scheme it uses)", u.Path, page+1, page, scheme, "paging")
			}
		}
		if scheme == Auto && len(prevIDs) > 0 {
			// This page did not start over: the API honours what was asked.
			if triedOffset {
				scheme = Offset
				s.detectPaging(Offset, fmt.Sprintf("the API ignores %q and honours %q", s.cfg.PageParam, s.cfg.OffsetParam))
			} else {
				scheme = PageNumber
				s.detectPaging(PageNumber, fmt.Sprintf("the API honours %q", s.cfg.PageParam))
			}
		}
		if len(events) == 0 {
			break
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
		if inWindow == 0 || scheme == NoPaging {
			// A whole page below the window: newest first, so the rest is older.
			break
		}
		if next := nextLink(r.header); next != "" {
			nu, err := r.url.Parse(next)
			if err != nil {
				return nil, failf("paging", "fetch: bad Link next %q: %v", next, err)
			}
			if !sameorigin.Same(nu, s.base) {
				return nil, &pollError{kind: "redirect", err: errors.Join(sameorigin.ErrForeignRedirect, errors.New("Link rel=next points to another host"))}
			}
			if scheme == Auto {
				scheme = Link
				s.detectPaging(Link, `the API sends Link rel="next"`)
			}
			u, linked = nu, true
			continue
		}
		if linked {
			break // the Link chain ended
		}
		u = s.pageURL(since, scheme, page+1, received)
	}
	slices.SortStableFunc(all, func(a, b Event) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return all, nil
}
