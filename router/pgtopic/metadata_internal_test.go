package pgtopic

import (
	"encoding/json"
	"maps"
	"testing"
)

// TestMetadataScannerMatchesEncodingJSON: the direct reading of metadata
// gives what encoding/json gives, and leaves to it what it does not read.
func TestMetadataScannerMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`{}`, ` { } `,
		`{"a": "b"}`,
		`{"tributary_event_id": "e-1", "tributary_source": "hooks", "webhook_id": "msg_1", "sent_at": "1765080000"}`,
		`{"k":"v","k2":"v2"}`,
		"{\n\t\"a\" : \"b\" ,\r\n \"c\":\"\"}",
		`{"quote": "a\"b"}`, `{"uni": "\u00e9"}`, `{"nl": "a\nb"}`, // escapes: encoding/json's
		`{"é": "ü", "emoji": "🙂"}`,
		`{"a": "b", "a": "c"}`,
		"{\"bad\": \"\xff\"}",
	} {
		var want map[string]string
		if err := json.Unmarshal([]byte(src), &want); err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		var got map[string]string
		if err := (metadataScanner{&got}).ScanBytes([]byte(src)); err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if !maps.Equal(got, want) || got == nil {
			t.Errorf("%q: got %v, want %v", src, got, want)
		}
	}
	for _, src := range []string{`{"n": 1}`, `[]`, `{"a": "b"`, `{"a" "b"}`, `{"a": "b"} x`} {
		var got map[string]string
		if err := (metadataScanner{&got}).ScanBytes([]byte(src)); err == nil {
			t.Errorf("%q: no error, got %v", src, got)
		}
	}
	var got map[string]string = map[string]string{"x": "y"}
	if err := (metadataScanner{&got}).ScanBytes(nil); err != nil || got != nil {
		t.Errorf("NULL: got %v, %v; want nil map", got, err)
	}
}

// FuzzMetadataScanner: whatever parseFlatStrings reads, encoding/json reads
// the same way.
func FuzzMetadataScanner(f *testing.F) {
	f.Add([]byte(`{"a": "b", "c": "d"}`))
	f.Add([]byte(`{"a": "b\"", "c": 1}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		got, ok := parseFlatStrings(src)
		if !ok {
			return
		}
		var want map[string]string
		if err := json.Unmarshal(src, &want); err != nil {
			t.Fatalf("%q: read directly as %v, but encoding/json refuses it: %v", src, got, err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%q: got %v, encoding/json %v", src, got, want)
		}
	})
}

// BenchmarkMetadataScan: a delivered message's metadata as the router
// stores it, read in place vs by encoding/json (what pgx does for a map).
func BenchmarkMetadataScan(b *testing.B) {
	src := []byte(`{"sent_at": "1765080000000000000", "webhook_id": "msg_2Kx9", "tributary_source": "hooks", "tributary_pipeline": "bench", ` +
		`"tributary_event_id": "evt_123", "tributary_event_type": "door.request.allowed", "webhook_timestamp": "1765080000", ` +
		`"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`)
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]string
			if err := (metadataScanner{&m}).ScanBytes(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]string
			if err := json.Unmarshal(src, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
