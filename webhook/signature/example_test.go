package signature_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tributary-dev/tributary/webhook/signature"
)

// Sign a webhook as the sender, then verify it as the receiver. During a key
// rotation the sender signs with both secrets and a receiver that knows
// either accepts.
func Example() {
	old, err := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		fmt.Println(err)
		return
	}
	rotated := signature.NewSecret([]byte("a new key of 24 bytes.."))
	body := []byte(`{"type":"door.opened"}`)
	sent := time.Unix(1_700_000_000, 0)

	h := http.Header{}
	signature.SetHeaders(h, []signature.Secret{old, rotated}, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", sent, body)
	fmt.Println(h.Get(signature.HeaderTimestamp), len(signature.ParseHeader(h.Get(signature.HeaderSignature))), "signatures")

	receiver := signature.Verifier{Secrets: []signature.Secret{old}, Now: func() time.Time { return sent.Add(time.Minute) }}
	fmt.Println(receiver.Verify(h, body))
	fmt.Println(receiver.Verify(h, []byte(`{"type":"door.closed"}`)))

	late := receiver
	late.Now = func() time.Time { return sent.Add(time.Hour) }
	fmt.Println(errors.Is(late.Verify(h, body), signature.ErrTimestampTooOld))
	// Output:
	// 1700000000 2 signatures
	// <nil>
	// signature: no matching signature
	// true
}

// Secrets never print their key, so one that reaches a log stays secret.
func ExampleSecret_String() {
	s, _ := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fmt.Println(s)
	fmt.Printf("%#v\n", s)
	// Output:
	// whsec_[redacted]
	// signature.Secret{[redacted]}
}
