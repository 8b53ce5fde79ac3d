package webhook

import (
	"net/http"
	"testing"
)

// BenchmarkSentHeaders: what recording an attempt's headers adds to each
// attempt the delivery log records (a request's usual dozen headers).
func BenchmarkSentHeaders(b *testing.B) {
	p, err := NewPublisher(Config{URL: "https://u:pw-1234@receiver.example/hook?key=k-5678", Token: "tok-abcdef",
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Headers: map[string]string{"X-Tenant": "acme"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	h := http.Header{}
	for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "tributary-webhook/1",
		"Idempotency-Key": "ev-123", "Webhook-Id": "ev-123", "Webhook-Timestamp": "1700000000",
		"Webhook-Signature": "v1,abcdefabcdefabcdefabcdefabcdefabcdefabcdefa=", "Token": "tok-abcdef", "X-Tenant": "acme",
		"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"} {
		h.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.sentHeaders(h)
	}
}
