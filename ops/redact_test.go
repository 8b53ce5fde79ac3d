package ops_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/ops"
)

func TestRedactorPayload(t *testing.T) {
	t.Parallel()
	r := ops.NewRedactor([]string{"conf-s3cret", "ab", ""})
	tests := []struct {
		name, in  string
		want, not []string
	}{
		{"credential keys at any depth", `{"id":1,"Authorization":"Bearer x1","a":[{"client_secret":"x2"}],"Password":"x3","apiKey":"x4","auth":{"u":"x5"}}`,
			[]string{`"id": 1`, `"Authorization": "[redacted]"`, `"client_secret": "[redacted]"`, `"auth": "[redacted]"`}, []string{"x1", "x2", "x3", "x4", "x5"}},
		{"configured secret in a value", `{"note":"key is conf-s3cret!"}`, []string{`"note": "key is [redacted]!"`}, []string{"conf-s3cret"}},
		{"big numbers kept", `{"n":12345678901234567890}`, []string{"12345678901234567890"}, nil},
		{"not JSON", `token=conf-s3cret&x=ab`, []string{"token=[redacted]&x=ab"}, []string{"conf-s3cret"}},
		{"two JSON values are text", `{"a":1} {"token":"conf-s3cret"}`, []string{`{"a":1} {"token":"[redacted]"}`}, nil},
		{"binary", "\xff\xfe\x00", []string{"(binary payload, 3 bytes)"}, nil},
	}
	for _, tc := range tests {
		got := r.Payload([]byte(tc.in))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: %q shows %q", tc.name, got, n)
			}
		}
	}
	md := r.Metadata(map[string]string{"webhook_signature": "v1,abc", "tributary_event_id": "e-conf-s3cret"})
	if md[0] != [2]string{"tributary_event_id", "e-[redacted]"} || md[1] != [2]string{"webhook_signature", "[redacted]"} {
		t.Errorf("metadata: %v", md)
	}
}
