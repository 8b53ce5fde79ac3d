package builtin_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

// TestOptionsTypesAreTagged: every exported field of every registered
// type's options (the packages' Configs, nested and inline structs
// included) has a yaml tag, a key or "-": an option is named where it is
// declared, once, and a field a file cannot set says so.
func TestOptionsTypesAreTagged(t *testing.T) {
	t.Parallel()
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() == "time" {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, ok := f.Tag.Lookup("yaml")
			if !ok {
				t.Errorf("%s.%s (%s) has no yaml tag", path, f.Name, typ)
				continue
			}
			if name, _, _ := strings.Cut(tag, ","); name != "-" {
				walk(f.Type, path+"."+f.Name)
			}
		}
	}
	n := 0
	for _, kind := range []components.Kind{components.KindSource, components.KindSink} {
		for _, name := range components.Types(kind) {
			if typ := components.OptionsType(kind, name); typ != nil {
				walk(typ, string(kind)+" "+name)
				n++
			}
		}
	}
	if n < 8 {
		t.Fatalf("walked %d types, want every built-in one", n)
	}
}

// TestSinkConfigsHaveNoName: a sink is named once, in the pipeline
// (router.Sink.Name, which the router passes to Publish).
func TestSinkConfigsHaveNoName(t *testing.T) {
	t.Parallel()
	for _, typ := range []reflect.Type{reflect.TypeFor[webhook.Config](), reflect.TypeFor[socketcommand.Config]()} {
		if _, has := typ.FieldByName("Name"); has {
			t.Errorf("%s has a Name field", typ)
		}
	}
}
