// Package tokenize turns text into the token IDs a watermark is keyed on, and
// back. Detection must re-tokenize text with the serving model's tokenizer;
// every result records the tokenizer's name. The implementations here wrap
// github.com/tiktoken-go/tokenizer, whose vocabularies are embedded in the
// module, so nothing is downloaded at run time.
package tokenize

import (
	"fmt"
	"strings"

	"github.com/tiktoken-go/tokenizer"
)

// Tokenizer encodes text to token IDs and decodes IDs to text.
// Implementations are safe for concurrent use.
type Tokenizer interface {
	// Name is the encoding's name, e.g. "o200k_base".
	Name() string
	// AppendEncode appends the token IDs of text to dst. Special-token text
	// such as "<|endoftext|>" is encoded as ordinary text. Invalid UTF-8 is
	// replaced by U+FFFD first, as tiktoken does by default.
	AppendEncode(dst []uint32, text string) ([]uint32, error)
	// Decode returns the text of ids. A sequence that ends inside a
	// multi-byte character decodes with U+FFFD in its place.
	Decode(ids []uint32) (string, error)
	// AppendBytes appends the raw bytes of ids to dst, without repairing
	// UTF-8: byte-level BPE tokens may hold part of a character.
	AppendBytes(dst []byte, ids []uint32) ([]byte, error)
}

// Default is the tokenizer used when none is named.
const Default = "o200k_base"

// names lists the encodings Get knows, in the order error messages show them.
var names = []string{"o200k_base", "cl100k_base", "p50k_base", "r50k_base"}

// Names returns the names Get accepts.
func Names() []string { return append([]string(nil), names...) }

// Get returns the tokenizer with the given name ("" means Default). An
// unknown name is an error listing the known ones.
func Get(name string) (Tokenizer, error) {
	if name == "" {
		name = Default
	}
	known := false
	for _, n := range names {
		known = known || n == name
	}
	if !known {
		return nil, fmt.Errorf("unknown tokenizer %q (known: %s)", name, strings.Join(names, ", "))
	}
	codec, err := tokenizer.Get(tokenizer.Encoding(name))
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	codec.SetErrorMode(tokenizer.ErrorModeReplace)
	raw, err := tokenizer.Get(tokenizer.Encoding(name))
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	raw.SetErrorMode(tokenizer.ErrorModeNone)
	return &tiktoken{name: name, codec: codec, raw: raw}, nil
}

// tiktoken adapts a tiktoken-go codec. Its error mode is set once in Get and
// never changed, so concurrent Encode and Decode calls are safe.
type tiktoken struct {
	name  string
	codec tokenizer.Codec // replaces invalid UTF-8
	raw   tokenizer.Codec // returns bytes as they are
}

func (t *tiktoken) Name() string { return t.name }

func (t *tiktoken) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	ids, _, err := t.codec.Encode(text)
	if err != nil {
		return dst, fmt.Errorf("tokenize with %s: %w", t.name, err)
	}
	for _, id := range ids {
		dst = append(dst, uint32(id))
	}
	return dst, nil
}

func (t *tiktoken) Decode(ids []uint32) (string, error) {
	return t.decode(t.codec, ids)
}

func (t *tiktoken) AppendBytes(dst []byte, ids []uint32) ([]byte, error) {
	s, err := t.decode(t.raw, ids)
	return append(dst, s...), err
}

func (t *tiktoken) decode(c tokenizer.Codec, ids []uint32) (string, error) {
	wide := make([]uint, len(ids))
	for i, id := range ids {
		wide[i] = uint(id)
	}
	s, err := c.Decode(wide)
	if err != nil {
		return "", fmt.Errorf("decode with %s: %w", t.name, err)
	}
	return s, nil
}
