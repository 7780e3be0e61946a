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
	valid []byte   // a part of the input with ill-formed UTF-8 replaced
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
	s := e.getScratch()
	for len(text) > 0 {
		var part string
		part, text = s.nextValid(text)
		for i := 0; i < len(part); {
			start, end := e.split.Next(part, i)
			if start == end {
				break
			}
			dst = e.ranks.AppendEncode(dst, part[start:end], &s.bpe)
			i = end
		}
	}
	e.scratch.Put(s)
	return dst, nil
}

// Count returns the number of tokens of text without storing them.
func (e *Encoder) Count(text string) int {
	s := e.getScratch()
	n := 0
	for len(text) > 0 {
		var part string
		part, text = s.nextValid(text)
		for i := 0; i < len(part); {
			start, end := e.split.Next(part, i)
			if start == end {
				break
			}
			s.piece = e.ranks.AppendEncode(s.piece[:0], part[start:end], &s.bpe)
			n += len(s.piece)
			i = end
		}
	}
	e.scratch.Put(s)
	return n
}

// getScratch takes a scratch from the pool; the caller puts it back.
func (e *Encoder) getScratch() *encodeScratch {
	s, _ := e.scratch.Get().(*encodeScratch)
	if s == nil {
		s = new(encodeScratch)
	}
	return s
}

// nextValid returns the next part of text to encode, valid UTF-8, and the
// text after it. tiktoken replaces every ill-formed UTF-8 sequence by U+FFFD
// before splitting; rather than copying a whole text for one bad byte, text
// is cut at CutPoint places (whose tokens, encoded apart, are the whole
// text's, and which lie between valid characters, so the replacement does not
// move them): a part is either a valid stretch of text as it is, or the
// stretch between the cut places around ill-formed sequences, copied into
// s.valid with the replacements (valid until the next call).
func (s *encodeScratch) nextValid(text string) (part, rest string) {
	i := bpe.ValidPrefix(text)
	if i == len(text) {
		return text, ""
	}
	if c := cutBefore(text, i); c > 0 {
		return text[:c], text[c:]
	}
	k := cutAfter(text, i)
	s.valid = bpe.AppendReplacingInvalid(s.valid[:0], text[:k])
	return unsafe.String(unsafe.SliceData(s.valid), len(s.valid)), text[k:]
}

// cutWindow is the first span cutBefore and cutAfter look at for a cut
// place; it grows fourfold until one is found.
const cutWindow = 512

// cutBefore returns a CutPoint place at or before i, as near as it finds,
// or 0.
func cutBefore(text string, i int) int {
	b := unsafe.Slice(unsafe.StringData(text), len(text))
	for w := cutWindow; ; w *= 4 {
		lo := max(0, i-w)
		// CutPoint looks only at the bytes around a place, so a place it
		// finds in b[lo:i] is one in text.
		if p := CutPoint(b[lo:i]); p >= 0 {
			return lo + p
		}
		if lo == 0 {
			return 0
		}
	}
}

// cutAfter returns a CutPoint place after i, within a few windows of it
// (the nearest is not needed), or len(text).
func cutAfter(text string, i int) int {
	b := unsafe.Slice(unsafe.StringData(text), len(text))
	for w := cutWindow; ; w *= 4 {
		hi := i + 1 + w
		if hi >= len(text) {
			return len(text)
		}
		if p := CutPoint(b[i+1 : hi]); p >= 0 {
			return i + 1 + p
		}
	}
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
