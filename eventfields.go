package tributary

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// EventFields reads the event id and type from the top level of a JSON body.
// A string or number id counts; anything else (absent, object, null) does
// not, and the caller falls back to a hash of the body. So does a body that
// is not JSON at all, such as an object followed by more bytes: its id would
// be a guess. Of a key given twice, the last counts.
//
// It runs for every inbound event, so it reads the body in place (one
// validity scan, then a walk over the top-level keys) instead of decoding
// every field; FuzzEventFields holds it to the decoding it replaced.
func EventFields(body []byte, idField, typeField string) (id, typ string) {
	if !json.Valid(body) {
		return "", ""
	}
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return "", "" // valid JSON of another shape carries no id
	}
	var idRaw, typRaw []byte
	i = skipJSONSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		keyEnd := endOfJSONString(body, i)
		key := body[i:keyEnd]
		i = skipJSONSpace(body, keyEnd)
		i = skipJSONSpace(body, i+1) // past ':'
		valueEnd := endOfJSONValue(body, i)
		value := body[i:valueEnd]
		if jsonKeyIs(key, idField) {
			idRaw = value
		}
		if jsonKeyIs(key, typeField) {
			typRaw = value
		}
		i = skipJSONSpace(body, valueEnd)
		if i < len(body) && body[i] == ',' {
			i = skipJSONSpace(body, i+1)
		}
	}
	return jsonScalar(idRaw), jsonScalar(typRaw)
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfJSONString is the index after the string starting at b[i] (valid JSON).
func endOfJSONString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// endOfJSONValue is the index after the value starting at b[i] (valid JSON).
func endOfJSONValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return endOfJSONString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfJSONString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return j
}

// jsonKeyIs says whether the quoted key (as in the body) is name.
func jsonKeyIs(key []byte, name string) bool {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == name
	}
	var k string
	return json.Unmarshal(key, &k) == nil && k == name
}

func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' {
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner)
		}
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseFloat(n.String(), 64); err == nil {
			return n.String()
		}
	}
	return ""
}

// BodyID is the fallback event id of a source that found none: the same body always dedups to itself.
func BodyID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}
