package tokenize

import (
	_ "embed" // the compact vocabularies
	"fmt"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/tracemark/tracemark/tokenize/bpe"
	"github.com/tracemark/tracemark/tokenize/pretokenize"
)

// Encoder is the fast tokenizer: a hand-written pre-tokenizer (package
// pretokenize) and a byte-pair encoder (package bpe) that give the same IDs
// as tiktoken. Encoding allocates nothing once its per-goroutine buffers have
// grown. It implements Tokenizer and is safe for concurrent use.
type Encoder struct {
	name    string
	split   *pretokenize.Splitter
	ranks   *bpe.Ranks
	scratch sync.Pool // of *encodeScratch
}

type encodeScratch struct {
	bpe   bpe.Scratch
	valid []byte   // input with invalid UTF-8 replaced
	piece []uint32 // tokens of one piece, for Count
}

// NewEncoder returns an Encoder named name that splits with split and merges
// with ranks. Use it to load other byte-level BPE vocabularies, e.g. one read
// with bpe.ParseTiktoken.
func NewEncoder(name string, split *pretokenize.Splitter, ranks *bpe.Ranks) *Encoder {
	return &Encoder{name: name, split: split, ranks: ranks}
}

// Name returns the encoding's name.
func (e *Encoder) Name() string { return e.name }

// Ranks returns the encoder's vocabulary.
func (e *Encoder) Ranks() *bpe.Ranks { return e.ranks }

// AppendEncode appends the token IDs of text to dst. It never fails.
func (e *Encoder) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	s, text := e.begin(text)
	for i := 0; i < len(text); {
		start, end := e.split.Next(text, i)
		if start == end {
			break
		}
		dst = e.ranks.AppendEncode(dst, text[start:end], &s.bpe)
		i = end
	}
	e.scratch.Put(s)
	return dst, nil
}

// begin takes a scratch from the pool (the caller puts it back) and returns
// text with invalid UTF-8 replaced by U+FFFD, as tiktoken does before
// splitting; the replaced copy lives in the scratch.
func (e *Encoder) begin(text string) (*encodeScratch, string) {
	s, _ := e.scratch.Get().(*encodeScratch)
	if s == nil {
		s = new(encodeScratch)
	}
	if !utf8.ValidString(text) {
		s.valid = bpe.AppendReplacingInvalid(s.valid[:0], text)
		text = unsafe.String(unsafe.SliceData(s.valid), len(s.valid))
	}
	return s, text
}

// Count returns the number of tokens of text without storing them.
func (e *Encoder) Count(text string) int {
	s, text := e.begin(text)
	n := 0
	for i := 0; i < len(text); {
		start, end := e.split.Next(text, i)
		if start == end {
			break
		}
		s.piece = e.ranks.AppendEncode(s.piece[:0], text[start:end], &s.bpe)
		n += len(s.piece)
		i = end
	}
	e.scratch.Put(s)
	return n
}

// Decode returns the text of ids, with U+FFFD for bytes that are not valid
// UTF-8 (as when ids end inside a character).
func (e *Encoder) Decode(ids []uint32) (string, error) {
	raw, err := e.AppendBytes(nil, ids)
	if err != nil {
		return "", err
	}
	if utf8.Valid(raw) {
		return string(raw), nil
	}
	return string(bpe.AppendReplacingInvalid(nil, string(raw))), nil
}

// AppendBytes appends the raw bytes of ids to dst.
func (e *Encoder) AppendBytes(dst []byte, ids []uint32) ([]byte, error) {
	for k, id := range ids {
		t, ok := e.ranks.Token(id)
		if !ok {
			return dst, fmt.Errorf("decode with %s: token %d (position %d) is not in the vocabulary", e.name, id, k)
		}
		dst = append(dst, t...)
	}
	return dst, nil
}

//go:generate go run ./internal/vocabgen -dir vocab o200k_base cl100k_base p50k_base r50k_base

// The compact vocabularies of the built-in encodings, used in place
// (read-only: the Ranks never write their token bytes).
var (
	//go:embed vocab/o200k_base.bpe
	o200kData string
	//go:embed vocab/cl100k_base.bpe
	cl100kData string
	//go:embed vocab/p50k_base.bpe
	p50kData string
	//go:embed vocab/r50k_base.bpe
	r50kData string
)

// vocabData maps the built-in encodings to their compact vocabularies.
var vocabData = map[string]string{
	"o200k_base": o200kData, "cl100k_base": cl100kData, "p50k_base": p50kData, "r50k_base": r50kData,
}

// encodingPatterns maps the built-in encodings to their split patterns.
var encodingPatterns = map[string]pretokenize.Pattern{
	"o200k_base":  pretokenize.O200k,
	"cl100k_base": pretokenize.Cl100k,
	"p50k_base":   pretokenize.GPT2,
	"r50k_base":   pretokenize.GPT2,
}

// builtinRanks returns the vocabulary of a built-in encoding from its
// embedded indexed form (vocab/NAME.bpe, written by go generate from
// tiktoken-go's tables, with its hash index precomputed:
// TestEmbeddedVocabulariesMatchTiktokenGo checks it), used in place: nothing
// is built, and only the pages a text's tokens need are read.
func builtinRanks(name string) (*bpe.Ranks, error) {
	text, ok := vocabData[name]
	if !ok {
		return nil, fmt.Errorf("tokenizer %s: no embedded vocabulary", name)
	}
	ranks, err := bpe.UnmarshalRanksIndexed(unsafe.Slice(unsafe.StringData(text), len(text)))
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	return ranks, nil
}
