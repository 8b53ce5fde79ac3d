package feedfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// TokenIssuer is a fake OAuth2 token endpoint for the client credentials
// grant: it issues opaque bearer tokens that expire after TTL, and its Valid
// method is what a Fake's Config.Authorize wants.
type TokenIssuer struct {
	ClientID, ClientSecret string
	// TTL of a token; its expires_in is TTL in whole seconds.
	TTL time.Duration

	mu      sync.Mutex
	seq     int
	expires map[string]time.Time
}

// NewTokenIssuer returns an issuer for one client.
func NewTokenIssuer(clientID, clientSecret string, ttl time.Duration) *TokenIssuer {
	return &TokenIssuer{ClientID: clientID, ClientSecret: clientSecret, TTL: ttl, expires: map[string]time.Time{}}
}

// ServeHTTP answers token requests (POST, form-encoded, client credentials
// in Basic auth or in the form).
func (ti *TokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		refuse(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ti.ClientID || secret != ti.ClientSecret {
		refuse(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	ti.mu.Lock()
	ti.seq++
	tok := fmt.Sprintf("tok-%d-%d", ti.seq, time.Now().UnixNano())
	ti.expires[tok] = time.Now().Add(ti.TTL)
	ti.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ti.TTL / time.Second),
	})
}

func refuse(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// Valid reports whether tok was issued here and has not expired.
func (ti *TokenIssuer) Valid(tok string) bool {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	exp, ok := ti.expires[tok]
	return ok && time.Now().Before(exp)
}

// Issued is how many tokens were issued.
func (ti *TokenIssuer) Issued() int {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.seq
}

// RevokeAll makes every token issued so far invalid.
func (ti *TokenIssuer) RevokeAll() {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	clear(ti.expires)
}
