package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
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
	// long-lived tokens). Use ${ENV} in a file.
	Static string `yaml:"static"`
	// Command runs argv[0] with the rest as arguments (no shell); its
	// trimmed stdout is the token.
	Command []string `yaml:"command"`
	// URL is fetched with GET; a JSON body's Field ("token" when empty) is the
	// token, any other body is taken whole (trimmed).
	URL string `yaml:"url"`
	// Field names the JSON field of URL's answer.
	Field string `yaml:"field"`
	// Headers are sent with the URL request (e.g. an API key for the token service).
	Headers map[string]string `yaml:"headers"`
	// Func is a Go callback.
	Func TokenFunc `yaml:"-"`
	// Timeout bounds one fetch; 10 s when zero.
	Timeout time.Duration `yaml:"timeout"`
}

// validate names the keys inside the token block.
func (c TokenConfig) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, tributary.Option(key, format, args...)) }
	n := 0
	for _, set := range []bool{c.Static != "", len(c.Command) > 0, c.URL != "", c.Func != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		bad("static", "set only one of static, command and url")
	}
	if len(c.Command) > 0 && c.Command[0] == "" {
		bad("command", "command[0] must name a program")
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url", "want an absolute http:// or https:// URL")
		}
	} else if c.Field != "" || len(c.Headers) > 0 {
		bad("field", "field and headers apply to url only")
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// provider returns the TokenProvider c describes, nil for none.
func (c TokenConfig) provider() TokenProvider {
	timeout := cmp.Or(c.Timeout, 10*time.Second)
	switch {
	case c.Func != nil:
		return c.Func
	case c.Static != "":
		s := c.Static
		return TokenFunc(func(context.Context) (string, error) { return s, nil })
	case len(c.Command) > 0:
		return commandToken{argv: c.Command, timeout: timeout}
	case c.URL != "":
		field := cmp.Or(c.Field, "token")
		return httpToken{url: c.URL, field: field, header: httpHeader(c.Headers), client: &http.Client{Timeout: timeout}}
	}
	return nil
}

// httpHeader turns configured headers into an http.Header, nil for none.
func httpHeader(m map[string]string) http.Header {
	if len(m) == 0 {
		return nil
	}
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
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
	maps.Copy(req.Header, h.header)
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
