package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// TokenProvider fetches a fresh provider token. The client calls it before its
// first dial, after the server says `invalidToken`, and after a handshake is
// refused for authentication.
type TokenProvider interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a Go callback to TokenProvider.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// TokenConfig chooses a token provider from configuration. Set exactly one of
// its fields, or none for a server that wants no token.
type TokenConfig struct {
	// Static is a fixed token; renewal re-sends it (useful in tests and for
	// long-lived tokens).
	Static string
	// Command runs argv[0] with the rest as arguments; its trimmed stdout is
	// the token.
	Command []string
	// URL is fetched with GET; a JSON body's Field ("token" when empty) is the
	// token, any other body is taken whole (trimmed).
	URL string
	// Field names the JSON field of URL's answer.
	Field string
	// Header is sent with the URL request (e.g. an API key for the token service).
	Header http.Header
	// Func is a Go callback.
	Func TokenFunc
	// Timeout bounds one fetch; 10 s when zero.
	Timeout time.Duration
}

func (c TokenConfig) validate() error {
	n := 0
	for _, set := range []bool{c.Static != "", len(c.Command) > 0, c.URL != "", c.Func != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("token: set only one of Static, Command, URL and Func")
	}
	if len(c.Command) > 0 && c.Command[0] == "" {
		return errors.New("token: Command[0] must name a program")
	}
	return nil
}

// provider returns the TokenProvider c describes, nil for none.
func (c TokenConfig) provider() TokenProvider {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	switch {
	case c.Func != nil:
		return c.Func
	case c.Static != "":
		s := c.Static
		return TokenFunc(func(context.Context) (string, error) { return s, nil })
	case len(c.Command) > 0:
		return commandToken{argv: c.Command, timeout: timeout}
	case c.URL != "":
		field := c.Field
		if field == "" {
			field = "token"
		}
		return httpToken{url: c.URL, field: field, header: c.Header, client: &http.Client{Timeout: timeout}}
	}
	return nil
}

type commandToken struct {
	argv    []string
	timeout time.Duration
}

func (c commandToken) Token(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// stderr is not included: a failing helper may echo secrets.
		return "", fmt.Errorf("token command %q: %w", c.argv[0], err)
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" {
		return "", fmt.Errorf("token command %q printed nothing", c.argv[0])
	}
	return tok, nil
}

type httpToken struct {
	url    string
	field  string
	header http.Header
	client *http.Client
}

func (h httpToken) Token(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return "", fmt.Errorf("token URL: %w", err)
	}
	for k, v := range h.header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token URL: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("token URL: read: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		// The body is not quoted: it may hold a token.
		return "", fmt.Errorf("token URL: HTTP %d", resp.StatusCode)
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return "", fmt.Errorf("token URL: JSON answer: %w", err)
		}
		var tok string
		if err := json.Unmarshal(m[h.field], &tok); err != nil || tok == "" {
			return "", fmt.Errorf("token URL: JSON answer has no string field %q", h.field)
		}
		return tok, nil
	}
	if len(body) == 0 {
		return "", errors.New("token URL: empty answer")
	}
	return string(body), nil
}
