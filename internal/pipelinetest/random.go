package pipelinetest

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomText is n characters of hex from random bytes (n even): text no
// compression shrinks, so Postgres cannot fit a long one under its index
// row limit (2704 bytes) the way it fits a repetitive one.
func RandomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
