// Package httpauth reads the Authorization header as RFC 9110 §11.1 says:
// the scheme ("Bearer", "Basic") is case-insensitive, the credentials are not.
package httpauth

import "strings"

// Bearer returns the token of an "Authorization: Bearer <token>" value, the
// scheme in any case; ok is false for another scheme or an empty token.
func Bearer(header string) (token string, ok bool) {
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// SameScheme returns got with its scheme spelled as want's when both are
// "<scheme> <credentials>" with the same scheme in another case, so that
// comparing it with want compares the credentials only; else got unchanged.
func SameScheme(got, want string) string {
	ws, _, ok := strings.Cut(want, " ")
	if !ok || ws == "" || strings.ContainsAny(ws, "\t") {
		return got
	}
	gs, rest, ok := strings.Cut(got, " ")
	if !ok || gs == ws || !strings.EqualFold(gs, ws) {
		return got
	}
	return ws + " " + rest
}
