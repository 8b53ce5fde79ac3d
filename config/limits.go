package config

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

const (
	// MaxFileBytes bounds a pipeline file. Real ones are a few kilobytes.
	MaxFileBytes = 4 << 20
	// MaxMappingKeys bounds the keys of one block mapping. The YAML parser
	// (goccy/go-yaml) takes time quadratic in them: 40,000 keys took 13 s
	// and 50 MB ran past 100 s; 5,000 take a fraction of a second, and no
	// field of a pipeline file needs more than a few dozen.
	MaxMappingKeys = 5000
)

// tokenize lexes data (in time linear in it) after checking the limits the
// parser needs: MaxFileBytes and, for every block mapping, MaxMappingKeys.
func (c checker) tokenize(data []byte) (token.Tokens, error) {
	if len(data) > MaxFileBytes {
		return nil, Errors{{File: c.file, Line: 1, Column: 1,
			Msg: fmt.Sprintf("the file is %d bytes, over the %d MiB a pipeline file may be", len(data), MaxFileBytes>>20)}}
	}
	tokens := lexer.Tokenize(string(data))
	// open holds the mappings open at increasing columns, with their keys
	// so far; a key or a sequence entry at a column ends every mapping to
	// its right. Each is pushed and popped once: linear.
	type mapping struct{ col, keys int }
	var open []mapping
	end := func(col int) {
		for len(open) > 0 && open[len(open)-1].col > col {
			open = open[:len(open)-1]
		}
	}
	for _, tk := range tokens {
		switch tk.Type {
		case token.SequenceEntryType:
			end(tk.Position.Column)
		case token.MappingValueType:
			key := tk.Prev
			if key == nil || key.Position == nil {
				continue
			}
			col := key.Position.Column
			end(col)
			if len(open) == 0 || open[len(open)-1].col != col {
				open = append(open, mapping{col: col})
			}
			top := &open[len(open)-1]
			if top.keys++; top.keys > MaxMappingKeys {
				return nil, Errors{errAtToken(c.file, key, "", fmt.Sprintf("a mapping with more than %d keys; a pipeline file needs no such mapping (and parsing one takes time quadratic in its keys)", MaxMappingKeys))}
			}
		}
	}
	return tokens, nil
}
