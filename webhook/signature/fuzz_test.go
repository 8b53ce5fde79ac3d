package signature_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/webhook/signature"
)

// FuzzParseHeader feeds arbitrary webhook-signature values (bytes off the
// wire) to the parser and the verifier: neither may panic, every parsed
// entry must have a version, and a header verifies only if one of its
// entries is the right v1 signature.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		vecSig, "", " ", "v1,", ",abc", "v1,!!!", "v1,abc= v2,def=", vecSig + " " + vecSig,
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"\tv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n", "v1,,,", "v1\x00,AAAA",
	} {
		f.Add(s)
	}
	sec, err := signature.ParseSecret(vecSecret)
	if err != nil {
		f.Fatal(err)
	}
	want := sec.Sign(vecID, vecTS, []byte(vecBody))
	v := signature.Verifier{Secrets: []signature.Secret{sec}, Now: func() time.Time { return time.Unix(vecTS, 0) }}
	f.Fuzz(func(t *testing.T, h string) {
		sigs := signature.ParseHeader(h)
		match := false
		for _, s := range sigs {
			if s.Version == "" {
				t.Fatalf("entry without version from %q", h)
			}
			if s.Version == "v1" && "v1,"+encode(s.Value) == want {
				match = true
			}
		}
		hdr := http.Header{}
		hdr.Set(signature.HeaderID, vecID)
		hdr.Set(signature.HeaderTimestamp, "1614265330")
		hdr.Set(signature.HeaderSignature, h)
		err := v.Verify(hdr, []byte(vecBody))
		if h != "" && (err == nil) != match {
			t.Fatalf("Verify(%q) = %v, but parsed match = %v", h, err, match)
		}
	})
}
