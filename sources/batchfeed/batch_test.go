package batchfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const seedBatch = `{
"batchId": "1642925639481",
"notifications": [
{
"id": "25faa70a-5b09-5ad8-a427-a034f31a5dd6",
"eventType": "journey:taskcompleted",
"when": "2022-01-23T08:13:56.8404437+00:00",
"tenantId": "bded51d4-598e-4079-9cf6-43e74144b415",
"causationId": "62fb805f-8386-40fb-8811-b104b08694c2",
"correlationId": "7995c851-45f6-45d7-bdfd-189d395cb929",
"relativeUrl": "journeyquery/api/journey-instance/165dcd7a-0912-4577-81d6-dbad57dd8d9a/task/91841917-de23-4d64-9dbc-2d0eaab2efbf",
"payload": {
"TaskId": "91841917-de23-4d64-9dbc-2d0eaab2efbf",
"TaskName": "Resolve Pre-Screening Matches",
"TaskType": "ScreeningMatchResolutionTask"
}
}
],
"moreAvailable": true
}`

func notes(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id":"n%d","eventType":"t"}`, i)
	}
	return strings.Join(parts, ",")
}

func TestParseBatchSeedExample(t *testing.T) {
	t.Parallel()
	b, err := ParseBatch([]byte(seedBatch), MaxBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	n := b.Notifications[0]
	if b.ID != "1642925639481" || !b.MoreAvailable || len(b.Notifications) != 1 ||
		n.ID != "25faa70a-5b09-5ad8-a427-a034f31a5dd6" || n.EventType != "journey:taskcompleted" ||
		n.When != "2022-01-23T08:13:56.8404437+00:00" || n.TenantID != "bded51d4-598e-4079-9cf6-43e74144b415" ||
		n.CausationID != "62fb805f-8386-40fb-8811-b104b08694c2" || n.CorrelationID != "7995c851-45f6-45d7-bdfd-189d395cb929" ||
		!strings.HasPrefix(n.RelativeURL, "journeyquery/api/journey-instance/") {
		t.Fatalf("parsed %+v", b)
	}
	var payload map[string]string
	if err := json.Unmarshal(n.Payload, &payload); err != nil || payload["TaskType"] != "ScreeningMatchResolutionTask" {
		t.Fatalf("payload %s: %v", n.Payload, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(n.Raw, &raw); err != nil || raw["id"] != n.ID || raw["payload"] == nil {
		t.Fatalf("raw %s: %v", n.Raw, err)
	}
}

func TestParseBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr string // empty: valid
		wantID  string
		wantN   int
	}{
		{name: "numeric batch id kept as written", body: `{"batchId":1642925639481,"notifications":[{"id":"a"}]}`, wantID: "1642925639481", wantN: 1},
		{name: "ten notifications", body: `{"batchId":"b","notifications":[` + notes(10) + `]}`, wantID: "b", wantN: 10},
		{name: "malformed JSON", body: `{"batchId":"b","notifications":[{"id":"a"]}`, wantErr: "malformed JSON"},
		{name: "truncated JSON", body: seedBatch[:len(seedBatch)/2], wantErr: "malformed JSON"},
		{name: "empty body", body: ``, wantErr: "malformed JSON"},
		{name: "trailing garbage", body: `{"batchId":"b","notifications":[{"id":"a"}]} x`, wantErr: "malformed JSON"},
		{name: "not an object", body: `[1,2]`, wantErr: "malformed JSON"},
		{name: "empty notifications", body: `{"batchId":"b","notifications":[],"moreAvailable":false}`, wantErr: "no notifications"},
		{name: "notifications missing", body: `{"batchId":"b"}`, wantErr: "no notifications"},
		{name: "batchId missing", body: `{"notifications":[{"id":"a"}]}`, wantErr: "batchId is missing"},
		{name: "batchId null", body: `{"batchId":null,"notifications":[{"id":"a"}]}`, wantErr: "batchId is missing"},
		{name: "batchId empty", body: `{"batchId":"","notifications":[{"id":"a"}]}`, wantErr: "batchId is empty"},
		{name: "batchId an object", body: `{"batchId":{},"notifications":[{"id":"a"}]}`, wantErr: "want a string or a number"},
		{name: "batchId with a slash", body: `{"batchId":"a/b","notifications":[{"id":"a"}]}`, wantErr: "cannot go in its URL"},
		{name: "eleven notifications", body: `{"batchId":"b","notifications":[` + notes(11) + `]}`, wantErr: "more than 10"},
		{name: "notification without id", body: `{"batchId":"b","notifications":[{"id":"a"},{"eventType":"x"}]}`, wantErr: "notification 1 has no id"},
		{name: "notification with empty id", body: `{"batchId":"b","notifications":[{"id":""}]}`, wantErr: "has no id"},
		{name: "notification id a number", body: `{"batchId":"b","notifications":[{"id":7}]}`, wantErr: "notification 0"},
		{name: "notification not an object", body: `{"batchId":"b","notifications":["x"]}`, wantErr: "notification 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := ParseBatch([]byte(tt.body), MaxBatchSize)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidBatch) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an ErrInvalidBatch containing %q", b, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != tt.wantID || len(b.Notifications) != tt.wantN {
				t.Fatalf("got batch %q with %d notifications; want %q with %d", b.ID, len(b.Notifications), tt.wantID, tt.wantN)
			}
		})
	}
}

// FuzzParseBatch: whatever arrives, the parser never panics, and what it
// accepts is a batch the source may store and complete.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(seedBatch))
	f.Add([]byte(`{"batchId":1,"notifications":[{"id":"a"}]}`))
	f.Add([]byte(`{"batchId":"b","notifications":[` + notes(11) + `]}`))
	f.Add([]byte(`{"batchId":"b","notifications":[{"id":"a"},{}]}`))
	f.Add([]byte(`{"batchId":"b","notifications":[]}`))
	f.Add([]byte(seedBatch[:100]))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseBatch(body, MaxBatchSize)
		if err != nil {
			if !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("error %v does not wrap ErrInvalidBatch", err)
			}
			return
		}
		if b.ID == "" || strings.ContainsAny(b.ID, "/?#") {
			t.Fatalf("accepted batch id %q", b.ID)
		}
		if len(b.Notifications) < 1 || len(b.Notifications) > MaxBatchSize {
			t.Fatalf("accepted %d notifications", len(b.Notifications))
		}
		for _, n := range b.Notifications {
			if n.ID == "" || !json.Valid(n.Raw) {
				t.Fatalf("accepted notification %+v", n)
			}
		}
	})
}
