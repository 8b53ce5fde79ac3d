package tributary_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary"
)

func TestDedupKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 513)
	tests := []struct {
		name, id string
		raw      bool
	}{
		{"short id kept", "evt_123", true},
		{"512 bytes kept", strings.Repeat("x", 512), true},
		{"513 bytes digested", long, false},
		{"NUL digested", "a\x00b", false},
		{"invalid UTF-8 digested", "a\xffb", false},
		{"digest-looking id digested", tributary.DedupKey(long), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := tributary.DedupKey(tt.id)
			if (key == tt.id) != tt.raw {
				t.Fatalf("DedupKey(%.40q) = %.60q, want raw=%v", tt.id, key, tt.raw)
			}
			if len(key) > 512 || strings.ContainsRune(key, 0) {
				t.Fatalf("key %.60q is not indexable text", key)
			}
		})
	}
	// Ids that share everything but their last byte get different keys, and
	// a digest-looking id never takes the key of the id it is the digest of.
	if tributary.DedupKey(long) == tributary.DedupKey(long[:512]+"y") {
		t.Fatal("two long ids share a key")
	}
	if tributary.DedupKey(tributary.DedupKey(long)) == tributary.DedupKey(long) {
		t.Fatal("an id equal to another id's digest shares its key")
	}
}
