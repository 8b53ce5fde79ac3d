package batchfeed

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenTimeout bounds a token request when the caller gives no HTTP client:
// oauth2's Token() takes no context, so a hung token endpoint would
// otherwise stall the source.
const tokenTimeout = 30 * time.Second

// ClientCredentials returns a token source for the OAuth2 client credentials
// grant. It reuses a token until refreshBefore its expiry (so no request
// goes out with a token about to lapse), and drops it at once when the feed
// answers 401 with it (a revoked token is not retried until it expires).
// Share one between the sources of one client. ctx must outlive the
// sources: oauth2 makes every token request with it. An HTTP client for the
// token endpoint can ride in it (oauth2.HTTPClient); otherwise one with a
// 30 s timeout is used.
func ClientCredentials(ctx context.Context, cfg clientcredentials.Config, refreshBefore time.Duration) oauth2.TokenSource {
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); !ok {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: tokenTimeout})
	}
	return &RefreshingTokenSource{
		New:           func() (*oauth2.Token, error) { return cfg.Token(ctx) },
		RefreshBefore: refreshBefore,
	}
}

// RefreshingTokenSource caches the token New fetches until RefreshBefore
// its expiry, or until Invalidate drops it. It is safe for concurrent use.
type RefreshingTokenSource struct {
	New           func() (*oauth2.Token, error)
	RefreshBefore time.Duration

	mu  sync.Mutex
	tok *oauth2.Token
}

// Token returns the cached token, or a new one when it is due.
func (r *RefreshingTokenSource) Token() (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tok != nil && (r.tok.Expiry.IsZero() || time.Now().Add(r.RefreshBefore).Before(r.tok.Expiry)) {
		return r.tok, nil
	}
	tok, err := r.New()
	if err != nil {
		return nil, err
	}
	r.tok = tok
	return tok, nil
}

// Invalidate drops the cached token if it is still accessToken (another
// request may have replaced it already).
func (r *RefreshingTokenSource) Invalidate(accessToken string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tok != nil && r.tok.AccessToken == accessToken {
		r.tok = nil
	}
}

// invalidator is a token source that can drop a token the feed refused.
type invalidator interface{ Invalidate(accessToken string) }

// StaticToken is a token source for a fixed bearer token.
func StaticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})
}
