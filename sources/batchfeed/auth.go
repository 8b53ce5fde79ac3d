package batchfeed

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenTimeout bounds a token request when the caller gives no HTTP client:
// oauth2's Token() takes no context, so a hung token endpoint would
// otherwise stall the source.
const tokenTimeout = 30 * time.Second

// ClientCredentials returns a token source for the OAuth2 client credentials
// grant that fetches a new token refreshBefore the current one expires (so
// no request goes out with a token about to lapse), and reuses it until then.
// ctx must outlive the source: oauth2 makes every token request with it. An
// HTTP client for the token endpoint can ride in it (oauth2.HTTPClient);
// otherwise one with a 30 s timeout is used.
func ClientCredentials(ctx context.Context, cfg clientcredentials.Config, refreshBefore time.Duration) oauth2.TokenSource {
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); !ok {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: tokenTimeout})
	}
	// ReuseTokenSourceWithExpiry takes over the reuse source clientcredentials
	// builds and replaces its fixed 10 s margin with ours.
	return oauth2.ReuseTokenSourceWithExpiry(nil, cfg.TokenSource(ctx), refreshBefore)
}

// StaticToken is a token source for a fixed bearer token.
func StaticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})
}
