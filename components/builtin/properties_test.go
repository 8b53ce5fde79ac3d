package builtin_test

import (
	"github.com/tributary-dev/tributary"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/components"
)

// A user's own types, registered with the properties the built-ins use.
func init() {
	components.RegisterSource("user-receiver", "a user's push source", func(components.Env, *struct{}) (tributary.Source, error) {
		return nil, nil
	}, components.RunOnEveryInstance())
	components.RegisterSink("user-headers", "a user's HTTP sink", func(components.Env, *struct{}) (message.Publisher, error) {
		return nil, nil
	}, components.SendHeaders())
	components.RegisterSink("user-plain", "a user's sink without headers", func(components.Env, *struct{}) (message.Publisher, error) {
		return nil, nil
	})
}

// TestTypeProperties: whether a source runs on every instance and whether a
// sink sends headers come from its registration, for built-in and user
// types alike.
func TestTypeProperties(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ  string
		want bool
	}{
		{"webhookin", true}, {"user-receiver", true},
		{"etagpoll", false}, {"generator", false}, {"no-such-type", false},
	} {
		if got := components.RunsOnEveryInstance(c.typ); got != c.want {
			t.Errorf("RunsOnEveryInstance(%q) = %v, want %v", c.typ, got, c.want)
		}
	}
	for _, c := range []struct {
		typ  string
		want bool
	}{
		{"webhook", true}, {"http", true}, {"user-headers", true},
		{"log", false}, {"socketcommand", false}, {"user-plain", false}, {"user-receiver", false},
	} {
		if got := components.SendsHeaders(c.typ); got != c.want {
			t.Errorf("SendsHeaders(%q) = %v, want %v", c.typ, got, c.want)
		}
	}
}

// TestTypePropertyOfTheOtherKind: a sink property on a source type (or the
// reverse) is a programming error, caught at registration.
func TestTypePropertyOfTheOtherKind(t *testing.T) {
	t.Parallel()
	for name, register := range map[string]func(){
		"source with SendHeaders": func() {
			components.RegisterSource("wrong-kind-source", "", func(components.Env, *struct{}) (tributary.Source, error) {
				return nil, nil
			}, components.SendHeaders())
		},
		"sink with RunOnEveryInstance": func() {
			components.RegisterSink("wrong-kind-sink", "", func(components.Env, *struct{}) (message.Publisher, error) {
				return nil, nil
			}, components.RunOnEveryInstance())
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "is for") {
					t.Errorf("%s: panic %v, want one naming the property's kind", name, r)
				}
			}()
			register()
		}()
	}
	for _, typ := range []string{"wrong-kind-source", "wrong-kind-sink"} {
		if components.OptionsType(components.KindSource, typ) != nil || components.OptionsType(components.KindSink, typ) != nil {
			t.Errorf("%s was registered despite the panic", typ)
		}
	}
}

// TestTransformHeadersNeedAHeaderSink: `transform.headers` is accepted on a
// sink type registered with SendHeaders (a user's included) and refused,
// naming the types that take it, on any other.
func TestTransformHeadersNeedAHeaderSink(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ typ, wantErr string }{
		{"user-headers", ""},
		{"http", ""},
		{"log", `sink type "log" sends no headers; only `},
	} {
		file := `
pipelines:
  - name: p
    sources: [{name: gen, type: generator}]
    sinks:
      - name: s
        type: ` + c.typ + `
        transform: {headers: {X-Type: type}}
`
		if c.typ == "http" {
			file = strings.Replace(file, "type: http", `type: http
        options: {url: "http://127.0.0.1:9/"}`, 1)
		}
		_, err := load(t, file, nil)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.typ, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want %q", c.typ, err, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), "user-headers"):
			t.Errorf("%s: error %v does not name the user's header sink", c.typ, err)
		}
	}
}
