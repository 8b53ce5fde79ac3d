package batchfeed

import (
	"context"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials returns a token source for the OAuth2 client credentials
// grant that fetches a new token refreshBefore the current one expires (so
// no request goes out with a token about to lapse), and reuses it until then.
// ctx carries the HTTP client for the token endpoint (oauth2.HTTPClient), if
// any; it is not a deadline for the source's life.
func ClientCredentials(ctx context.Context, cfg clientcredentials.Config, refreshBefore time.Duration) oauth2.TokenSource {
	// ReuseTokenSourceWithExpiry unwraps the reuse source clientcredentials
	// builds and replaces its fixed 10 s margin with ours.
	return oauth2.ReuseTokenSourceWithExpiry(nil, cfg.TokenSource(ctx), refreshBefore)
}

// StaticToken is a token source for a fixed bearer token.
func StaticToken(token string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})
}
