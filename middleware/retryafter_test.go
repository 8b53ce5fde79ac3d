package middleware_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/middleware"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		name   string
		header []string // key, value, …
		want   time.Duration
		wantOK bool
	}{
		{"absent", nil, 0, false},
		{"empty", []string{"Retry-After", "  "}, 0, false},
		{"seconds", []string{"Retry-After", "120"}, 2 * time.Minute, true},
		{"zero", []string{"Retry-After", "0"}, 0, true},
		{"spaces around", []string{"Retry-After", " 7 "}, 7 * time.Second, true},
		{"leading zeros", []string{"Retry-After", "007"}, 7 * time.Second, true},
		{"just under the cap", []string{"Retry-After", "86399"}, middleware.MaxRetryAfter - time.Second, true},
		{"at the cap", []string{"Retry-After", "86400"}, middleware.MaxRetryAfter, true},
		{"beyond int64 seconds", []string{"Retry-After", "9223372036854775808"}, middleware.MaxRetryAfter, true},
		{"beyond Duration nanoseconds", []string{"Retry-After", "9223372037"}, middleware.MaxRetryAfter, true},
		{"a hundred digits", []string{"Retry-After", strings.Repeat("9", 100)}, middleware.MaxRetryAfter, true},
		{"negative", []string{"Retry-After", "-5"}, 0, false},
		{"plus sign", []string{"Retry-After", "+5"}, 0, false},
		{"fraction", []string{"Retry-After", "1.5"}, 0, false},
		{"garbage", []string{"Retry-After", "soon"}, 0, false},
		{"date against our clock", []string{"Retry-After", date(3 * time.Minute)}, 3 * time.Minute, true},
		{"RFC 850 date", []string{"Retry-After", now.Add(time.Minute).Format(time.RFC850)}, time.Minute, true},
		{"asctime date", []string{"Retry-After", now.Add(time.Minute).Format(time.ANSIC)}, time.Minute, true},
		{"date against server clock", []string{"Retry-After", date(-4 * time.Minute), "Date", date(-5 * time.Minute)}, time.Minute, true},
		{"bad server Date ignored", []string{"Retry-After", date(time.Minute), "Date", "yesterday"}, time.Minute, true},
		{"date in the past", []string{"Retry-After", date(-time.Minute)}, 0, true},
		{"date far ahead", []string{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}, middleware.MaxRetryAfter, true},
		{"date far behind", []string{"Retry-After", "Mon, 01 Jan 0001 00:00:00 GMT"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for i := 0; i+1 < len(tc.header); i += 2 {
				h.Set(tc.header[i], tc.header[i+1])
			}
			got, ok := middleware.ParseRetryAfter(h, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.header, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// FuzzParseRetryAfter: whatever a server sends, the wait is within [0, cap],
// nothing panics, and a malformed header gives no wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "+1", "99999999999999999999", "Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "1e9", " 5"} {
		f.Add(s, "Sun, 06 Nov 1994 08:49:37 GMT")
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v, date string) {
		h := http.Header{"Retry-After": {v}, "Date": {date}}
		got, ok := middleware.ParseRetryAfter(h, now)
		if got < 0 || got > middleware.MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q, Date %q) = %v: outside [0, %v]", v, date, got, middleware.MaxRetryAfter)
		}
		if !ok && got != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false: a wait without ok", v, got)
		}
		if s := strings.TrimSpace(v); s != "" && strings.Trim(s, "0123456789") == "" && !ok {
			t.Fatalf("ParseRetryAfter(%q): delay-seconds refused", v)
		}
	})
}
