// Package signature signs and verifies webhooks the Standard Webhooks way
// (github.com/standard-webhooks/standard-webhooks): headers webhook-id,
// webhook-timestamp and webhook-signature, the last a space-separated list of
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per secret, so a secret
// can be rotated without downtime. The outbound sink and the inbound source
// share it.
package signature

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names of the Standard Webhooks spec.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks secret; the rest is base64.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from now (either way) before
// a verifier refuses it: the spec's ±5 min of clock drift.
const DefaultTolerance = 5 * time.Minute

// Errors a verification can fail with. None of them carries a secret or a
// signature value.
var (
	ErrMissingHeaders  = errors.New("signature: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp    = errors.New("signature: malformed webhook-timestamp")
	ErrTimestampTooOld = errors.New("signature: timestamp too old")
	ErrTimestampTooNew = errors.New("signature: timestamp too new")
	ErrNoMatch         = errors.New("signature: no matching signature")
	ErrInvalidSecret   = errors.New("signature: secret must be whsec_<base64> and not empty")
	ErrNoSecrets       = errors.New("signature: no secrets")
)

// Secret is an HMAC key. Its String and GoString never print the key, so a
// Secret that ends up in a log line or an error stays secret.
type Secret struct {
	key []byte
	// macs reuses keyed HMACs: keying one hashes two blocks, which on a
	// sink's hot path costs as much as signing a small body.
	macs *sync.Pool
}

func newSecret(key []byte) Secret {
	return Secret{key: key, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// ParseSecret decodes "whsec_<base64>" (the prefix is optional, as in the
// reference implementations).
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) == 0 {
		// Never wrap the decode error: it quotes the offending input.
		return Secret{}, ErrInvalidSecret
	}
	return newSecret(key), nil
}

// ParseSecrets parses every secret, in order.
func ParseSecrets(ss []string) ([]Secret, error) {
	out := make([]Secret, 0, len(ss))
	for i, s := range ss {
		sec, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		out = append(out, sec)
	}
	return out, nil
}

// NewSecret wraps a raw key (for generating secrets).
func NewSecret(key []byte) Secret { return newSecret(append([]byte(nil), key...)) }

// Encode returns the secret as "whsec_<base64>", for handing to a receiver.
func (s Secret) Encode() string { return SecretPrefix + base64.StdEncoding.EncodeToString(s.key) }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String implements fmt.Stringer without revealing the key.
func (s Secret) String() string { return "whsec_[redacted]" }

// GoString implements fmt.GoStringer without revealing the key.
func (s Secret) GoString() string { return "signature.Secret{[redacted]}" }

// Sign returns the "v1,<base64>" signature of body for id and ts with s.
func (s Secret) Sign(id string, ts int64, body []byte) string {
	var sum [sha256.Size]byte
	mac := s.mac(sum[:0], id, ts, body)
	out := make([]byte, 3+base64.StdEncoding.EncodedLen(len(mac)))
	copy(out, "v1,")
	base64.StdEncoding.Encode(out[3:], mac)
	return string(out)
}

// mac appends the HMAC of "id.ts.body" to dst.
func (s Secret) mac(dst []byte, id string, ts int64, body []byte) []byte {
	var m hash.Hash
	if s.macs != nil {
		m = s.macs.Get().(hash.Hash)
		m.Reset()
		defer s.macs.Put(m)
	} else {
		m = hmac.New(sha256.New, s.key)
	}
	var head [96]byte
	b := append(head[:0], id...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	m.Write(b)
	m.Write(body)
	return m.Sum(dst)
}

// SignatureHeader returns the webhook-signature value for body: one v1
// signature per secret, space-separated.
func SignatureHeader(secrets []Secret, id string, ts int64, body []byte) string {
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		parts = append(parts, s.Sign(id, ts, body))
	}
	return strings.Join(parts, " ")
}

// SetHeaders sets webhook-id, webhook-timestamp and webhook-signature on h.
func SetHeaders(h http.Header, secrets []Secret, id string, ts time.Time, body []byte) {
	unix := ts.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	h.Set(HeaderSignature, SignatureHeader(secrets, id, unix, body))
}

// Signature is one entry of a webhook-signature header.
type Signature struct {
	Version string
	Value   []byte
}

// ParseHeader parses a webhook-signature value: space-separated
// "<version>,<base64>" entries. Entries that are malformed (no comma, bad
// base64) are skipped rather than failing the whole header, so a sender that
// adds a future scheme beside v1 still verifies.
func ParseHeader(h string) []Signature {
	var out []Signature
	for _, f := range strings.Fields(h) {
		version, value, ok := strings.Cut(f, ",")
		if !ok || version == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			continue
		}
		out = append(out, Signature{Version: version, Value: raw})
	}
	return out
}

// Verifier checks Standard Webhooks signatures against one or more secrets.
type Verifier struct {
	Secrets []Secret
	// Tolerance bounds |now - webhook-timestamp|; DefaultTolerance when zero.
	Tolerance time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verify checks the headers of a request against body. It succeeds when any
// v1 signature in the header matches any secret (constant-time compare).
func (v Verifier) Verify(h http.Header, body []byte) error {
	if len(v.Secrets) == 0 {
		return ErrNoSecrets
	}
	id, tsHeader, sigHeader := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsHeader == "" || sigHeader == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(tsHeader), 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	tol := cmp.Or(v.Tolerance, DefaultTolerance)
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	n := now().Unix()
	switch {
	case n-ts > int64(tol/time.Second):
		return ErrTimestampTooOld
	case ts-n > int64(tol/time.Second):
		return ErrTimestampTooNew
	}
	sigs := ParseHeader(sigHeader)
	for _, s := range v.Secrets {
		want := s.mac(nil, id, ts, body)
		for _, sig := range sigs {
			if sig.Version == "v1" && hmac.Equal(sig.Value, want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}
