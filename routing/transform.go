package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/net/http/httpguts"
)

// HeaderPrefix prefixes the metadata keys a transform sets for its headers:
// header X-Door-Name is metadata "tributary_header_X-Door-Name". A sink that
// sends HTTP turns them into headers (webhook.Config.MetadataHeaders; see
// Transform.MetadataHeaders).
const HeaderPrefix = "tributary_header_"

// HeaderKey is the metadata key a transform sets for header name.
func HeaderKey(name string) string { return HeaderPrefix + http.CanonicalHeaderKey(name) }

// TransformSpec is a sink's transform: Body, when set, is an expression whose
// value, encoded as JSON, replaces the payload; Headers maps header names to
// expressions whose values (a string, number or bool; null leaves the header
// out) are set as metadata HeaderKey(name).
//
// A pipeline sink's `transform:` block decodes into it.
type TransformSpec struct {
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// Transform is a compiled TransformSpec. It is safe for concurrent use.
type Transform struct {
	body    *program
	headers []header
	decode  bool
}

type header struct {
	name string // canonical
	p    *program
}

// reservedHeaders are set by the HTTP sinks themselves (or by HTTP).
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Authorization": true,
	"Idempotency-Key": true, "Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
	"Traceparent": true, "Tracestate": true, "Transfer-Encoding": true, "Connection": true,
}

// NewTransform compiles spec. Errors are *Error, one per expression at fault.
func NewTransform(spec TransformSpec) (*Transform, error) {
	t := &Transform{}
	var errs []error
	if spec.Body != "" {
		p, err := compile("body", spec.Body, reflect.Interface)
		if err != nil {
			errs = append(errs, err)
		} else {
			t.body, t.decode = p, p.usesPayload
		}
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(spec.Headers)) {
		field := "headers." + name
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, &Error{Field: field, Msg: fmt.Sprintf("%q is not a valid header name", name)})
			continue
		case reservedHeaders[canon]:
			errs = append(errs, &Error{Field: field, Msg: fmt.Sprintf("header %s is set by the sink; a transform cannot set it", canon)})
			continue
		case seen[canon] != "":
			errs = append(errs, &Error{Field: field, Msg: fmt.Sprintf("header %s is also set as %q", canon, seen[canon])})
			continue
		}
		seen[canon] = name
		p, err := compile(field, spec.Headers[name], reflect.Interface)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.headers = append(t.headers, header{name: canon, p: p})
		t.decode = t.decode || p.usesPayload
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// MetadataHeaders maps each header the transform sets to its metadata key,
// the shape webhook.Config.MetadataHeaders takes.
func (t *Transform) MetadataHeaders() map[string]string {
	out := make(map[string]string, len(t.headers))
	for _, h := range t.headers {
		out[h.name] = HeaderKey(h.name)
	}
	return out
}

// Apply implements a router.Sink transform: it sets the body and header
// metadata on msg (a copy the router hands it) and returns it. An error (the
// payload is not JSON, an expression fails on this event, a value JSON
// cannot encode) is the event's: the router poisons it for this sink.
func (t *Transform) Apply(msg *message.Message) (*message.Message, error) {
	env, err := envOf(msg, t.decode)
	if err != nil {
		return nil, err
	}
	var body []byte
	if t.body != nil {
		v, err := t.body.run(env)
		if err != nil {
			return nil, err
		}
		if body, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("body: value cannot be written as JSON: %w", err)
		}
	}
	values := make([]string, len(t.headers))
	for i, h := range t.headers {
		v, err := h.p.run(env)
		if err != nil {
			return nil, err
		}
		s, err := headerValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.p.field, err)
		}
		values[i] = s
	}
	// Only now change msg: a failed transform leaves it as it was.
	if t.body != nil {
		msg.Payload = body
	}
	for i, h := range t.headers {
		if values[i] == "" {
			delete(msg.Metadata, HeaderKey(h.name))
			continue
		}
		msg.Metadata.Set(HeaderKey(h.name), values[i])
	}
	return msg, nil
}

// headerValue renders an expression's value as a header value.
func headerValue(v any) (string, error) {
	s, ok := scalarText(v)
	if !ok {
		return "", fmt.Errorf("value of type %T cannot be a header; want a string, number or bool", v)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", errors.New("value contains a line break or NUL, which a header cannot carry")
	}
	return s, nil
}

// scalarText is the text of a string, number or bool ("" for nil); ok is
// false for any other value.
func scalarText(v any) (s string, ok bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}
