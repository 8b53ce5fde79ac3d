package etagpoll

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	t.Parallel()
	f := Config{}
	f.setDefaults()
	fl := f.fields()
	created := time.Date(2026, 3, 1, 12, 0, 0, 123000000, time.UTC)
	tests := []struct {
		name    string
		body    string
		ids     []string
		wantErr bool
		badEv   bool
	}{
		{"array", `[{"id":"a","type":"t","createdAt":"2026-03-01T12:00:00.123Z","timestamp":"2026-03-01T11:59:00Z"}]`, []string{"a"}, false, false},
		{"envelope", ` {"data":[{"id":7,"createdAt":"2026-03-01T14:00:00.123+02:00"}],"total":1}`, []string{"7"}, false, false},
		{"unix millis", `[{"id":"m","createdAt":1772366400123}]`, []string{"m"}, false, false},
		{"empty array", `[]`, nil, false, false},
		{"null data", `{"data":null}`, nil, false, false},
		{"not json", `<html>oops</html>`, nil, true, false},
		{"empty body", ``, nil, true, false},
		{"truncated", `[{"id":"a","createdAt":"2026-03-01T12:00:00Z"},{"id":"b","crea`, nil, true, false},
		{"no envelope field", `{"items":[]}`, nil, true, false},
		{"missing id", `[{"createdAt":"2026-03-01T12:00:00Z"}]`, nil, true, true},
		{"empty id", `[{"id":"","createdAt":"2026-03-01T12:00:00Z"}]`, nil, true, true},
		{"id object", `[{"id":{},"createdAt":"2026-03-01T12:00:00Z"}]`, nil, true, true},
		{"missing createdAt", `[{"id":"a"}]`, nil, true, true},
		{"bad createdAt", `[{"id":"a","createdAt":"yesterday"}]`, nil, true, true},
		{"entry not object", `["a"]`, nil, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := parseEvents([]byte(tc.body), fl)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.badEv != errors.Is(err, errBadEvent) {
				t.Fatalf("err = %v, want errBadEvent %v", err, tc.badEv)
			}
			if len(evs) != len(tc.ids) {
				t.Fatalf("got %d events, want %d", len(evs), len(tc.ids))
			}
			for i, ev := range evs {
				if ev.ID != tc.ids[i] || !ev.CreatedAt.Equal(created) {
					t.Fatalf("event %d = %+v, want id %s created %s", i, ev, tc.ids[i], created)
				}
			}
		})
	}
}

func TestParseKeepsTimestampApartFromCreatedAt(t *testing.T) {
	t.Parallel()
	c := Config{}
	c.setDefaults()
	evs, err := parseEvents([]byte(`[{"id":"a","type":"door.unlocked","createdAt":"2026-03-01T12:00:00Z","timestamp":"2026-03-01T11:00:00Z"}]`), c.fields())
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Timestamp != "2026-03-01T11:00:00Z" || evs[0].CreatedAt.Hour() != 12 || evs[0].Type != "door.unlocked" {
		t.Fatalf("got %+v", evs[0])
	}
}

// FuzzParseEvents feeds the event-log parser arbitrary bodies: it must never
// panic, and whatever it accepts must be carriable (id and createdAt set,
// payload the event's own JSON).
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{
		`[{"id":"a","type":"t","createdAt":"2026-03-01T12:00:00.123Z","timestamp":"2026-03-01T11:59:00Z"}]`,
		`{"data":[{"id":7,"createdAt":1772366400123}]}`,
		`[]`, `{"data":null}`, `[{"id":"a"}]`, `[{"id":"a","createdAt":"2026-`, `null`, `"x"`, `{}`, `[1,2]`,
		`[{"id":1e400,"createdAt":"2026-03-01T12:00:00Z"}]`, `[{"id":"a","createdAt":99999999999999999999}]`,
	} {
		f.Add([]byte(s))
	}
	c := Config{}
	c.setDefaults()
	fl := c.fields()
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := parseEvents(body, fl)
		if err != nil {
			if len(evs) != 0 {
				t.Fatalf("events returned with error %v", err)
			}
			return
		}
		for _, ev := range evs {
			if ev.ID == "" || ev.CreatedAt.IsZero() {
				t.Fatalf("accepted an uncarriable event %+v", ev)
			}
			if !json.Valid(ev.Raw) {
				t.Fatalf("payload is not JSON: %q", ev.Raw)
			}
		}
	})
}
