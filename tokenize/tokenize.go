// Package tokenize turns text into the token IDs a watermark is keyed on, and
// back. Detection must re-tokenize text with the serving model's tokenizer;
// every result records the tokenizer's name.
//
// The default implementation, Encoder, is this project's own: a hand-written
// pre-tokenizer for each encoding's split pattern (package pretokenize) and a
// byte-pair encoder (package bpe), many times faster than
// github.com/tiktoken-go/tokenizer and allocation-free, with identical IDs.
// Its vocabularies are read out of tiktoken-go, which embeds them, so nothing
// is downloaded at run time. tiktoken-go itself stays available as the
// reference, under the names "tiktoken-go:NAME".
package tokenize

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"

	"github.com/tracemark/tracemark/tokenize/pretokenize"
	"github.com/tracemark/tracemark/watermark"
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

// Default is the tokenizer used when none is named: the one new keys
// record (watermark.DefaultTokenizer).
const Default = watermark.DefaultTokenizer

// names lists the encodings Get knows, in the order error messages show them.
var names = []string{"o200k_base", "cl100k_base", "p50k_base", "r50k_base"}

// ReferencePrefix, put before an encoding's name, selects the reference
// implementation, github.com/tiktoken-go/tokenizer, instead of Encoder.
const ReferencePrefix = "tiktoken-go:"

func knownNames() []string {
	var out []string
	for _, k := range known {
		out = append(out, k.Name)
	}
	return out
}

// Names returns the encodings Get accepts. Each is also accepted with
// ReferencePrefix.
func Names() []string { return append([]string(nil), names...) }

// Get returns the tokenizer with the given name ("" means Default): for an
// encoding, the fast Encoder (built on first use), or with ReferencePrefix
// the tiktoken-go reference; both report the encoding's name (without
// prefix) as their Name, since they give the same IDs. A known open-model
// name (KnownTokenizers) or a path to a tokenizer.json loads it with package
// hf (AddedTokensSuffix matches its added tokens in text). An unknown name is
// an error listing the known ones.
func Get(name string) (Tokenizer, error) {
	if name == "" {
		name = Default
	}
	encoding, reference := strings.CutPrefix(name, ReferencePrefix)
	if _, known := encodingPatterns[encoding]; !known {
		if strings.HasPrefix(name, "hf:") {
			return nil, fmt.Errorf("tokenizer %s is a tokenizer.json known by the start of its SHA-256: give the file's path", name)
		}
		if t, ok, err := getHF(name); ok {
			if err != nil {
				return nil, err
			}
			return t, nil
		}
		return nil, fmt.Errorf("unknown tokenizer %q (known: %s, each also as %sNAME; %s; or a tokenizer.json path)", name, strings.Join(names, ", "), ReferencePrefix, strings.Join(knownNames(), ", "))
	}
	if reference {
		return getReference(encoding)
	}
	return &lazyEncoder{name: encoding}, nil
}

// lazyEncoder is a built-in encoding whose Encoder is built on first use
// (a few milliseconds), so that a command that never tokenizes (or uses
// another tokenizer) pays nothing for it.
type lazyEncoder struct {
	name string
	once sync.Once
	enc  *Encoder
	err  error
}

func (l *lazyEncoder) get() (*Encoder, error) {
	l.once.Do(func() { l.enc, l.err = newBuiltin(l.name, pretokenize.New) })
	return l.enc, l.err
}

func (l *lazyEncoder) Name() string { return l.name }

func (l *lazyEncoder) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	e, err := l.get()
	if err != nil {
		return dst, err
	}
	return e.AppendEncode(dst, text)
}

func (l *lazyEncoder) Decode(ids []uint32) (string, error) {
	e, err := l.get()
	if err != nil {
		return "", err
	}
	return e.Decode(ids)
}

func (l *lazyEncoder) AppendBytes(dst []byte, ids []uint32) ([]byte, error) {
	e, err := l.get()
	if err != nil {
		return dst, err
	}
	return e.AppendBytes(dst, ids)
}

// Builtin returns the fast Encoder of a built-in encoding, built now (Get
// returns one that is built on first use).
func Builtin(name string) (*Encoder, error) {
	if _, known := encodingPatterns[name]; !known {
		return nil, fmt.Errorf("unknown tokenizer %q (known: %s)", name, strings.Join(names, ", "))
	}
	return newBuiltin(name, pretokenize.New)
}

// GetTiktokenGoCompatible returns the fast Encoder for a built-in encoding,
// with the splitting defects of tiktoken-go v0.10.0 reproduced (see
// pretokenize.NewTiktokenGoCompatible), so that its IDs equal tiktoken-go's
// on every input. Get's Encoder follows OpenAI's tiktoken instead.
func GetTiktokenGoCompatible(name string) (*Encoder, error) {
	if _, known := encodingPatterns[name]; !known {
		return nil, fmt.Errorf("unknown tokenizer %q (known: %s)", name, strings.Join(names, ", "))
	}
	return newBuiltin(name, pretokenize.NewTiktokenGoCompatible)
}

func newBuiltin(name string, newSplitter func(pretokenize.Pattern) (*pretokenize.Splitter, error)) (*Encoder, error) {
	split, err := newSplitter(encodingPatterns[name])
	if err != nil {
		return nil, err
	}
	ranks, err := builtinRanks(name)
	if err != nil {
		return nil, err
	}
	return NewEncoder(name, split, ranks), nil
}

// getReference returns the tiktoken-go implementation of a known encoding.
func getReference(name string) (Tokenizer, error) {
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
