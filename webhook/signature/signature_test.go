package signature_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/sigpeer"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// The test vector published with the reference implementations.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB, s string) signature.Secret {
	t.Helper()
	sec, err := signature.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	if got := mustSecret(t, vecSecret).Sign(vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set(signature.HeaderID, id)
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(signature.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	old := mustSecret(t, vecSecret)
	cur := signature.NewSecret([]byte("a brand new key, rotated in"))
	now := time.Unix(vecTS, 0)
	body := []byte(vecBody)
	both := signature.SignatureHeader([]signature.Secret{old, cur}, vecID, vecTS, body)
	tests := []struct {
		name    string
		secrets []signature.Secret
		h       http.Header
		body    []byte
		now     time.Time
		want    error
	}{
		{"known vector", []signature.Secret{old}, headers(vecID, vecTS, vecSig), body, now, nil},
		{"rotation: sender signs with both, receiver knows new", []signature.Secret{cur}, headers(vecID, vecTS, both), body, now, nil},
		{"rotation: sender signs with both, receiver knows old", []signature.Secret{old}, headers(vecID, vecTS, both), body, now, nil},
		{"rotation: receiver knows both, sender signs with one", []signature.Secret{cur, old}, headers(vecID, vecTS, vecSig), body, now, nil},
		{"unknown version skipped", []signature.Secret{old}, headers(vecID, vecTS, "v2,abcd "+vecSig), body, now, nil},
		{"tampered body", []signature.Secret{old}, headers(vecID, vecTS, vecSig), []byte(`{"test": 1}`), now, signature.ErrNoMatch},
		{"tampered id", []signature.Secret{old}, headers("msg_other", vecTS, vecSig), body, now, signature.ErrNoMatch},
		{"wrong secret", []signature.Secret{cur}, headers(vecID, vecTS, vecSig), body, now, signature.ErrNoMatch},
		{"v1 value under another version", []signature.Secret{old}, headers(vecID, vecTS, "v1a,"+strings.TrimPrefix(vecSig, "v1,")), body, now, signature.ErrNoMatch},
		{"too old", []signature.Secret{old}, headers(vecID, vecTS, vecSig), body, now.Add(6 * time.Minute), signature.ErrTimestampTooOld},
		{"too new", []signature.Secret{old}, headers(vecID, vecTS, vecSig), body, now.Add(-6 * time.Minute), signature.ErrTimestampTooNew},
		{"within tolerance", []signature.Secret{old}, headers(vecID, vecTS, vecSig), body, now.Add(4 * time.Minute), nil},
		{"bad timestamp", []signature.Secret{old}, func() http.Header {
			h := headers(vecID, vecTS, vecSig)
			h.Set(signature.HeaderTimestamp, "yesterday")
			return h
		}(), body, now, signature.ErrBadTimestamp},
		{"missing headers", []signature.Secret{old}, http.Header{}, body, now, signature.ErrMissingHeaders},
		{"no secrets", nil, headers(vecID, vecTS, vecSig), body, now, signature.ErrNoSecrets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := signature.Verifier{Secrets: tt.secrets, Now: func() time.Time { return tt.now }}
			if err := v.Verify(tt.h, tt.body); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	s := mustSecret(t, vecSecret)
	key := strings.TrimPrefix(vecSecret, "whsec_")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint([]signature.Secret{s})} {
		if strings.Contains(out, key) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if _, err := signature.ParseSecret("whsec_not base64 at all!" + key); err == nil || strings.Contains(err.Error(), key) {
		t.Fatalf("ParseSecret error %v must refuse and not quote the input", err)
	}
	if s.Encode() != vecSecret {
		t.Fatalf("Encode = %s", s.Encode())
	}
}

// TestAgainstReferenceImplementation checks both directions against the npm
// package standardwebhooks: it must verify what we sign, and we must verify
// what it signs.
func TestAgainstReferenceImplementation(t *testing.T) {
	t.Parallel()
	sec := mustSecret(t, vecSecret)
	body := []byte(`{"id":"evt_1","type":"door.unlocked","data":{"door":"Front ✓"}}`)
	ts := time.Now().Unix()
	theirs := sigpeer.Sign(t, vecSecret, "evt_1", ts, body)
	if ours := sec.Sign("evt_1", ts, body); theirs != ours {
		t.Fatalf("reference signs %s, we sign %s", theirs, ours)
	}
	if err := (signature.Verifier{Secrets: []signature.Secret{sec}}).Verify(headers("evt_1", ts, theirs), body); err != nil {
		t.Fatalf("reference signature does not verify: %v", err)
	}

	// Their receiver verifies our headers, including a rotated pair.
	recv := sigpeer.Serve(t, vecSecret)
	other := signature.NewSecret([]byte("another key"))
	for i, secrets := range [][]signature.Secret{{sec}, {other, sec}, {other}} {
		req, _ := http.NewRequest(http.MethodPost, recv.URL+"/hook", strings.NewReader(string(body)))
		signature.SetHeaders(req.Header, secrets, fmt.Sprintf("msg_%d", i), time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNoContent
		if i == 2 {
			want = http.StatusUnauthorized
		}
		if resp.StatusCode != want {
			t.Fatalf("case %d: reference receiver answered %d, want %d", i, resp.StatusCode, want)
		}
	}
}
