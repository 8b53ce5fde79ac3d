package components_test

import (
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/components"
)

// A user's own types, registered with the properties the built-ins use.
func init() {
	components.RegisterSource("user-receiver", "a user's push source", func(components.Env, *struct{}) (message.Subscriber, error) {
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
			components.RegisterSource("wrong-kind-source", "", func(components.Env, *struct{}) (message.Subscriber, error) {
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
