package routing_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/routing"
)

func TestOrderKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, payload string
		meta                map[string]string
		want                string
		wantErr             bool
	}{
		{"payload string", "payload.doorId", `{"doorId":"d-7"}`, nil, "d-7", false},
		{"payload number", "payload.n", `{"n":42}`, nil, "42", false},
		{"missing field: no key", "payload.doorId", `{}`, nil, "", false},
		{"metadata field", `metadata["door"]`, `not json`, map[string]string{"door": "d-1"}, "d-1", false},
		{"concatenation", `payload.a + "/" + payload.b`, `{"a":"x","b":"y"}`, nil, "x/y", false},
		{"an object is no key", "payload", `{"a":1}`, nil, "", true},
		{"payload not JSON", "payload.a", `{`, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := routing.NewOrderKey(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			msg := message.NewMessage("1", []byte(tt.payload))
			for mk, v := range tt.meta {
				msg.Metadata.Set(mk, v)
			}
			got, err := k.Key(msg)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Key = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := routing.NewOrderKey("payload.("); err == nil {
		t.Fatal("a malformed expression compiled")
	}
}
