package feedfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func do(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestFakeFollowsTheProtocol(t *testing.T) {
	t.Parallel()
	f := New(Config{BatchSize: 3})
	srv := httptest.NewServer(f)
	defer srv.Close()
	base := srv.URL + "/eventnotifications/v2/"

	if st, _ := do(t, "GET", base+"journey/next"); st != http.StatusNoContent {
		t.Fatalf("empty feed: %d, want 204", st)
	}
	f.Generate("journey", 5)
	st, body := do(t, "GET", base+"journey/next")
	var b1 Batch
	if err := json.Unmarshal(body, &b1); st != 200 || err != nil || len(b1.Notifications) != 3 || !b1.MoreAvailable {
		t.Fatalf("first batch: %d %s", st, body)
	}
	if _, again := do(t, "GET", base+"journey/next"); string(again) != string(body) {
		t.Fatalf("the batch changed before complete:\n%s\n%s", body, again)
	}
	if st, body := do(t, "GET", base+"Journey/next"); st != 404 || !json.Valid(body) {
		t.Fatalf("wrong case: %d %s, want 404 problem+json", st, body)
	}
	if st, _ := do(t, "POST", base+"journey/nope/complete"); st != 404 {
		t.Fatalf("unknown batch: %d, want 404", st)
	}
	if st, _ := do(t, "POST", base+"journey/"+b1.BatchID+"/complete"); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	if st, _ := do(t, "POST", base+"journey/"+b1.BatchID+"/complete"); st != 404 {
		t.Fatalf("second complete: %d, want 404", st)
	}
	_, body = do(t, "GET", base+"journey/next")
	var b2 Batch
	if err := json.Unmarshal(body, &b2); err != nil || b2.BatchID == b1.BatchID || len(b2.Notifications) != 2 || b2.MoreAvailable {
		t.Fatalf("second batch: %s", body)
	}
	if st, _ := do(t, "POST", base+"journey/"+b1.BatchID+"/complete"); st != 404 || f.Pending("journey") != 2 {
		t.Fatal("completing the old batch again touched the current one")
	}
	if st, _ := do(t, "PUT", base+"journey/discardAll"); st != 200 || f.Pending("journey") != 0 || f.Discarded("journey") != 2 {
		t.Fatalf("discardAll: %d, pending %d", st, f.Pending("journey"))
	}
	if got := f.CompletedIDs("journey"); len(got) != 3 || got[0] != b1.Notifications[0].ID {
		t.Fatalf("completed ids %v", got)
	}
	if f.Calls("Journey", OpNext) != 1 || f.Calls("journey", OpComplete) != 4 {
		t.Fatal("calls not counted per spelling")
	}
}
