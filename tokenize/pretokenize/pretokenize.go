// Package pretokenize splits text into the pieces that byte-pair encoding
// then merges, exactly as the split patterns of OpenAI's tiktoken encodings
// do, but without a regular-expression engine: each pattern is written out as
// a hand-made scanner that reproduces the leftmost-first, greedy,
// backtracking semantics of the pattern alternative by alternative.
//
// The patterns of OpenAI's encodings:
//
//	O200k  (o200k_base):  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	                      |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	                      |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	Cl100k (cl100k_base): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//	                      |\s*[\r\n]+|\s+(?!\S)|\s+
//	GPT2   (p50k_base, r50k_base): 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// and those of open models' tokenizer.json files that are not among them
// (see the Pattern constants): Qwen2, DeepSeek-V3's three and Tekken.
//
// Character classes use Go's unicode tables; \s is unicode.IsSpace. Every
// character starts some alternative of these patterns, so the pieces tile the
// text: concatenated, they give the input back.
//
// The input must be valid UTF-8 (tiktoken replaces invalid sequences by
// U+FFFD before splitting; so does package tokenize).
package pretokenize

import (
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// Pattern names one of the split patterns this package implements.
type Pattern int

const (
	// O200k is the pattern of o200k_base (GPT-4o and later).
	O200k Pattern = iota + 1
	// Cl100k is the pattern of cl100k_base (GPT-3.5, GPT-4).
	Cl100k
	// GPT2 is the pattern of r50k_base and p50k_base (GPT-2, GPT-3), and
	// of Hugging Face's ByteLevel pre-tokenizer with use_regex.
	GPT2
	// Qwen2 is the pattern of Qwen 2, 2.5 and 3: Cl100k with one digit per
	// piece (\p{N} instead of \p{N}{1,3}).
	Qwen2
	// DeepSeekV3 is the last of DeepSeek-V3's three split patterns:
	//	[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
	//	| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	// Unlike the others it does not match every character (a control
	// character or a lone digit matches nothing); Next skips those.
	DeepSeekV3
	// Digits3 is \p{N}{1,3}, DeepSeek-V3's first split pattern.
	Digits3
	// DeepSeekCJK is [\x{4e00}-\x{9fa5}\x{3040}-\x{309f}\x{30a0}-\x{30ff}]+,
	// DeepSeek-V3's second split pattern (CJK ideographs and kana).
	DeepSeekCJK
	// Tekken is the pattern of Mistral NeMo's tokenizer (Tekken): O200k
	// without the contractions and with one digit per piece (\p{N}
	// instead of \p{N}{1,3}):
	//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+
	//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*
	//	|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
	Tekken
)

// Llama3 is the pattern of Llama 3, 3.1, 3.2 and 3.3: the same regular
// expression as cl100k_base's.
const Llama3 = Cl100k

// Regexes holds the regular expression of each pattern, as Hugging Face
// tokenizer.json files spell it (and tiktoken for the OpenAI encodings).
var Regexes = map[Pattern]string{
	O200k:       `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	Cl100k:      `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	GPT2:        `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
	Qwen2:       `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	DeepSeekV3:  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
	Digits3:     `\p{N}{1,3}`,
	DeepSeekCJK: "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
	Tekken:      `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
}

// Recognize returns the pattern whose regular expression is regex, if this
// package implements it. Spellings that differ only in how the line breaks
// of a class are written (\r\n escaped or literal) are recognized alike.
func Recognize(regex string) (Pattern, bool) {
	norm := canonicalRegex(regex)
	for p, re := range Regexes {
		if canonicalRegex(re) == norm {
			return p, true
		}
	}
	return 0, false
}

// canonicalRegex writes literal CR and LF as the escapes \r and \n, which
// denote the same characters in every regular-expression dialect.
func canonicalRegex(re string) string {
	out := make([]byte, 0, len(re))
	for i := 0; i < len(re); i++ {
		switch re[i] {
		case '\r':
			out = append(out, '\\', 'r')
		case '\n':
			out = append(out, '\\', 'n')
		default:
			out = append(out, re[i])
		}
	}
	return string(out)
}

// String returns the pattern's name: "o200k", "cl100k", "gpt2", "qwen2",
// "deepseek-v3", "digits3", "deepseek-cjk" or "tekken".
func (p Pattern) String() string {
	switch p {
	case O200k:
		return "o200k"
	case Cl100k:
		return "cl100k"
	case GPT2:
		return "gpt2"
	case Qwen2:
		return "qwen2"
	case DeepSeekV3:
		return "deepseek-v3"
	case Digits3:
		return "digits3"
	case DeepSeekCJK:
		return "deepseek-cjk"
	case Tekken:
		return "tekken"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// Character class bits. A rune can have several.
const (
	clsUpper       = 1 << iota // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	clsLower                   // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
	clsLetter                  // \p{L}
	clsNumber                  // \p{N}
	clsSpace                   // \s
	clsPrefix                  // [^\r\n\p{L}\p{N}]
	clsOther                   // [^\s\p{L}\p{N}]
	clsPunctSym                // [\p{P}\p{S}]
	clsLetterMark              // [\p{L}\p{M}]
	clsASCIIPunct              // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]
	clsASCIILetter             // [A-Za-z]
	clsCJK                     // [\x{4e00}-\x{9fa5}\x{3040}-\x{309f}\x{30a0}-\x{30ff}]
	clsPrefixDS                // [^\r\n\p{L}\p{P}\p{S}]
)

// Splitter finds piece boundaries for one pattern. It is immutable after New
// and safe for concurrent use.
type Splitter struct {
	pattern Pattern
	// bmp holds the class bits of every rune below 0x10000; others are
	// computed on the fly.
	bmp [0x10000]uint16
	// tiktokenGo reproduces the two defects of the matcher that
	// github.com/tiktoken-go/tokenizer v0.10.0 generates for these
	// patterns (see NewTiktokenGoCompatible).
	tiktokenGo bool
}

// New returns a Splitter for p.
func New(p Pattern) (*Splitter, error) {
	return newSplitter(p, false)
}

// NewTiktokenGoCompatible returns a Splitter for p that reproduces two
// defects of the matcher github.com/tiktoken-go/tokenizer v0.10.0 generates
// (with regexp2cg) for these patterns, where it differs from OpenAI's
// tiktoken:
//
//   - DEL (U+007F) is left out of [^\r\n\p{L}\p{N}] and [^\s\p{L}\p{N}], so
//     no alternative matches at a DEL and the character is skipped: its
//     token is lost.
//   - In \s*[\r\n]+, the greedy \s* backtracks to the first newline of the
//     whitespace run instead of the last, so "\n\t\n\t" splits as "\n",
//     "\t\n", "\t" where tiktoken gives "\n\t\n", "\t".
//
// New follows OpenAI's tiktoken. This Splitter exists to test against
// tiktoken-go on every input, and for users who need its exact output.
func NewTiktokenGoCompatible(p Pattern) (*Splitter, error) {
	return newSplitter(p, true)
}

func newSplitter(p Pattern, tiktokenGo bool) (*Splitter, error) {
	if _, ok := Regexes[p]; !ok {
		return nil, fmt.Errorf("pretokenize: unknown pattern %v", p)
	}
	s := &Splitter{pattern: p, tiktokenGo: tiktokenGo}
	s.fillTable()
	return s, nil
}

// fillTable sets the class bits of every BMP rune from the Unicode range
// tables (a walk over ranges, not 65,536 property look-ups), then derives
// the complemented classes; classify gives the same bits rune by rune.
func (s *Splitter) fillTable() {
	set := func(t *unicode.RangeTable, bit uint16) {
		for _, r := range t.R16 {
			for c := uint32(r.Lo); c <= uint32(r.Hi); c += uint32(r.Stride) {
				s.bmp[c] |= bit
			}
		}
		for _, r := range t.R32 {
			if r.Lo >= uint32(len(s.bmp)) {
				break
			}
			for c := r.Lo; c <= r.Hi && c < uint32(len(s.bmp)); c += r.Stride {
				s.bmp[c] |= bit
			}
		}
	}
	for _, t := range []*unicode.RangeTable{unicode.M, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo} {
		set(t, clsUpper)
	}
	for _, t := range []*unicode.RangeTable{unicode.M, unicode.Ll, unicode.Lm, unicode.Lo} {
		set(t, clsLower)
	}
	set(unicode.L, clsLetter|clsLetterMark)
	set(unicode.M, clsLetterMark)
	set(unicode.N, clsNumber)
	set(unicode.White_Space, clsSpace)
	set(unicode.P, clsPunctSym)
	set(unicode.S, clsPunctSym)
	for r := range rune(len(s.bmp)) {
		s.bmp[r] |= s.derived(r, s.bmp[r])
	}
}

// derived returns the bits of r that follow from its base bits c.
func (s *Splitter) derived(r rune, c uint16) uint16 {
	var d uint16
	if 0x4e00 <= r && r <= 0x9fa5 || 0x3040 <= r && r <= 0x30ff {
		d |= clsCJK
	}
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' {
			d |= clsASCIILetter
		}
		if r > ' ' && r < 0x7f && !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			d |= clsASCIIPunct
		}
	}
	letter, number, space := c&clsLetter != 0, c&clsNumber != 0, c&clsSpace != 0
	crlf := r == '\r' || r == '\n'
	if !crlf && !letter && c&clsPunctSym == 0 {
		d |= clsPrefixDS
	}
	if s.tiktokenGo && r == 0x7f {
		return d
	}
	if !crlf && !letter && !number {
		d |= clsPrefix
	}
	if !space && !letter && !number {
		d |= clsOther
	}
	return d
}

// Pattern returns the pattern s implements.
func (s *Splitter) Pattern() Pattern { return s.pattern }

func (s *Splitter) classify(r rune) uint16 {
	var c uint16
	isMark := unicode.Is(unicode.M, r)
	if isMark || unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo) {
		c |= clsUpper
	}
	if isMark || unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo) {
		c |= clsLower
	}
	if unicode.Is(unicode.L, r) {
		c |= clsLetter | clsLetterMark
	}
	if isMark {
		c |= clsLetterMark
	}
	if unicode.Is(unicode.N, r) {
		c |= clsNumber
	}
	if unicode.Is(unicode.White_Space, r) {
		c |= clsSpace
	}
	if unicode.In(r, unicode.P, unicode.S) {
		c |= clsPunctSym
	}
	return c | s.derived(r, c)
}

// class returns the class bits and the byte length of the rune at t[i:].
func (s *Splitter) class(t string, i int) (uint16, int) {
	if b := t[i]; b < utf8.RuneSelf {
		return s.bmp[b], 1
	}
	return s.classMultibyte(t, i)
}

func (s *Splitter) classMultibyte(t string, i int) (uint16, int) {
	r, n := utf8.DecodeRuneInString(t[i:])
	if r < rune(len(s.bmp)) {
		return s.bmp[r], n
	}
	return s.classify(r), n
}

// run returns the end of the longest run of runes from i that all have one
// of the class bits in mask.
func (s *Splitter) run(t string, i int, mask uint16) int {
	for i < len(t) {
		if b := t[i]; b < utf8.RuneSelf {
			if s.bmp[b]&mask == 0 {
				break
			}
			i++
			continue
		}
		c, n := s.classMultibyte(t, i)
		if c&mask == 0 {
			break
		}
		i += n
	}
	return i
}

// Next returns the piece that starts at or after i: its bounds [start, end).
// start is i unless the text at i matches no alternative of the pattern,
// which cannot happen on valid UTF-8 (see the package documentation). At the
// end of the text Next returns (len(t), len(t)).
func (s *Splitter) Next(t string, i int) (start, end int) {
	for i < len(t) {
		var e int
		switch s.pattern {
		case O200k, Tekken:
			if e = o200kASCII(t, i, s.pattern == O200k); e < 0 {
				e = s.o200k(t, i)
			}
		case Cl100k, Qwen2:
			if e = wordASCII(t, i); e < 0 {
				e = s.cl100k(t, i)
			}
		case DeepSeekV3:
			if e = wordASCII(t, i); e < 0 {
				e = s.deepseek(t, i)
			}
		case Digits3:
			if i = s.skipTo(t, skipASCII(t, i, true), clsNumber); i < len(t) {
				e = s.upTo3Numbers(t, i)
			}
		case DeepSeekCJK:
			if i = s.skipTo(t, skipASCII(t, i, false), clsCJK); i < len(t) {
				e = s.run(t, i, clsCJK)
			}
		default:
			if e = wordASCII(t, i); e < 0 {
				e = s.gpt2(t, i)
			}
		}
		if e > i {
			return i, e
		}
		if i < len(t) {
			_, n := s.class(t, i)
			i += n
		}
	}
	return len(t), len(t)
}

// skipASCII returns the start of the first 8-byte word at or after i that
// holds a byte that is not ASCII or, if digits, an ASCII digit, or else
// the first position at or after i with fewer than 8 bytes after it. Neither the CJK class nor \p{N} has an
// ASCII member but the digits, so skipTo may start there.
func skipASCII(t string, i int, digits bool) int {
	const high, lo, hi = 0x8080808080808080, 0x5050505050505050, 0x4646464646464646
	for ; i+8 <= len(t); i += 8 {
		w := uint64(t[i]) | uint64(t[i+1])<<8 | uint64(t[i+2])<<16 | uint64(t[i+3])<<24 |
			uint64(t[i+4])<<32 | uint64(t[i+5])<<40 | uint64(t[i+6])<<48 | uint64(t[i+7])<<56
		if w&high != 0 {
			break
		}
		// With every byte below 0x80, byte+0x50 has its high bit set
		// from '0' on and byte+0x46 from ':' on.
		if digits && (w+lo)&^(w+hi)&high != 0 {
			break
		}
	}
	return i
}

// skipTo returns the start of the first rune at or after i that has one of
// the class bits in mask, or len(t).
func (s *Splitter) skipTo(t string, i int, mask uint16) int {
	for i < len(t) {
		if b := t[i]; b < utf8.RuneSelf {
			if s.bmp[b]&mask != 0 {
				return i
			}
			i++
			continue
		}
		c, n := s.classMultibyte(t, i)
		if c&mask != 0 {
			return i
		}
		i += n
	}
	return i
}

// asciiLetter, asciiUpper and asciiLower mark the bytes A-Z and a-z.
var asciiLetter, asciiUpper, asciiLower = func() (l, u, w [256]bool) {
	for b := 'A'; b <= 'Z'; b++ {
		l[b], u[b] = true, true
		l[b+'a'-'A'], w[b+'a'-'A'] = true, true
	}
	return
}()

// asciiPunctNotQuote marks the ASCII punctuation and symbols but the
// apostrophe: [^\s\p{L}\p{N}] and [\p{P}\p{S}] on printable ASCII.
var asciiPunctNotQuote = func() (p [256]bool) {
	for b := '!'; b <= '~'; b++ {
		p[b] = !asciiLetter[b] && !('0' <= b && b <= '9') && b != '\''
	}
	return
}()

// wordASCII is the fast path, for the Cl100k, Qwen2, GPT2 and DeepSeekV3
// patterns, of their most frequent piece: an ASCII word, with or without
// one space before it, followed by an ASCII byte that is not a letter (or
// the end). There the patterns' letter alternative ([^\r\n\p{L}\p{N}]?\p{L}+,
// " ?\p{L}+", [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+) is the first to match,
// and matches exactly the word: no earlier alternative (contractions,
// DeepSeek's [ASCII punctuation][A-Za-z]+) starts with a space or a letter,
// and no ASCII byte that is not a letter is in \p{L} or \p{M}. It returns
// the end of the piece, or -1 where the full scanner must decide.
func wordASCII(t string, i int) int {
	j := i
	if t[j] == ' ' {
		j++
	}
	start := j
	j = asciiLetterRun(t, j)
	if j == start || j < len(t) && t[j] >= utf8.RuneSelf {
		return -1 // no letter, or the letter run may go on
	}
	return j
}

// asciiLetterRun returns the end of the run of ASCII letters from i,
// testing eight bytes at a time.
func asciiLetterRun(t string, i int) int {
	for ; i+8 <= len(t); i += 8 {
		w := uint64(t[i]) | uint64(t[i+1])<<8 | uint64(t[i+2])<<16 | uint64(t[i+3])<<24 |
			uint64(t[i+4])<<32 | uint64(t[i+5])<<40 | uint64(t[i+6])<<48 | uint64(t[i+7])<<56
		if m := notLetters(w); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(t) && asciiLetter[t[i]] {
		i++
	}
	return i
}

// notLetters returns the high bit of each byte of w that is not an ASCII
// letter. A byte is a letter if it is below 0x80 and, with bit 5 set (the
// case bit), from 'a' to 'z'; on the low seven bits of each byte (x below)
// the two additions cannot carry into the next byte.
func notLetters(w uint64) uint64 {
	const high = 0x8080808080808080
	x := (w | 0x2020202020202020) &^ high
	geA := x + 0x1f1f1f1f1f1f1f1f // high bit set from 'a' (0x61) on
	gtZ := x + 0x0505050505050505 // from '{' (0x7b) on
	letters := geA &^ gtZ &^ w & high
	return letters ^ high
}

// notLower returns the high bit of each byte of w that is not a small
// ASCII letter (a-z), as notLetters does for letters of either case.
func notLower(w uint64) uint64 {
	const high = 0x8080808080808080
	x := w &^ high
	geA := x + 0x1f1f1f1f1f1f1f1f // high bit set from 'a' (0x61) on
	gtZ := x + 0x0505050505050505 // from '{' (0x7b) on
	return (geA &^ gtZ &^ w & high) ^ high
}

// o200kASCII is the same fast path for the O200k pattern, whose letter
// alternatives are [^\r\n\p{L}\p{N}]?U*L+C? and [^\r\n\p{L}\p{N}]?U+L*C? (U
// upper, L lower case, C a contraction): on ASCII, an optional space, then
// capitals, then small letters, then a contraction, ending before an ASCII
// byte. Without contractions it is the fast path of the Tekken pattern,
// whose letter alternatives are O200k's without C. It returns -1 where the
// full scanner must decide.
func o200kASCII(t string, i int, contractions bool) int {
	j := i
	if t[j] == ' ' {
		j++
	}
	start := j
	for j < len(t) && asciiUpper[t[j]] {
		j++
	}
	for j < len(t) && asciiLower[t[j]] {
		j++
	}
	if j == start || j < len(t) && t[j] >= utf8.RuneSelf {
		return -1
	}
	if !contractions {
		return j
	}
	e := contraction(t, j, true)
	if e < len(t) && t[e] >= utf8.RuneSelf {
		return -1
	}
	return e
}

// AppendEnds appends to ends the end offsets of the pieces of t from i on,
// in order, as long as ends has room for two more (it does not grow ends),
// and returns them with the offset where the next piece starts (len(t) at
// the end). Text that matches no alternative (a gap, see DeepSeekV3) is a
// piece of its own, as under Isolated: the pieces tile t[i:]. It gives the
// pieces of Next, in a loop that tests the commonest piece (an ASCII word,
// see wordASCII) before calling Next, for encoders that take pieces in
// batches.
func (s *Splitter) AppendEnds(ends []int, t string, i int) ([]int, int) {
	if s.pattern == Tekken {
		return s.appendEndsTekken(ends, t, i)
	}
	words := s.pattern == Cl100k || s.pattern == Qwen2 || s.pattern == DeepSeekV3 || s.pattern == GPT2
	for i < len(t) && len(ends)+2 <= cap(ends) {
		if words {
			// wordASCII, written out so that it stays in the loop.
			j := i
			if t[j] == ' ' {
				j++
			}
			start := j
			for ; j+8 <= len(t); j += 8 {
				w := uint64(t[j]) | uint64(t[j+1])<<8 | uint64(t[j+2])<<16 | uint64(t[j+3])<<24 |
					uint64(t[j+4])<<32 | uint64(t[j+5])<<40 | uint64(t[j+6])<<48 | uint64(t[j+7])<<56
				if m := notLetters(w); m != 0 {
					j += bits.TrailingZeros64(m) >> 3
					goto end
				}
			}
			for j < len(t) && asciiLetter[t[j]] {
				j++
			}
		end:
			if j > start && (j == len(t) || t[j] < utf8.RuneSelf) {
				ends = append(ends, j)
				i = j
				continue
			}
			// An ASCII punctuation mark (but the apostrophe of the
			// contractions) before a space, and a line break before an
			// ASCII letter, are pieces of one byte in these four
			// patterns: the punctuation alternative stops at the space
			// (and no letter alternative can start), the line-break
			// alternative at the letter.
			if i+1 < len(t) && (t[i+1] == ' ' && asciiPunctNotQuote[t[i]] || t[i] == '\n' && asciiLetter[t[i+1]]) {
				i++
				ends = append(ends, i)
				continue
			}
		}
		a, b := s.Next(t, i)
		if a > i {
			ends = append(ends, a)
		}
		if a == b {
			return ends, len(t)
		}
		ends = append(ends, b)
		i = b
	}
	return ends, i
}

// appendEndsTekken is AppendEnds for the Tekken pattern, whose commonest
// piece is o200kASCII's without a contraction: an optional space, capitals,
// then small letters (tested eight bytes at a time), before an ASCII byte.
// The one-byte pieces of AppendEnds (an ASCII punctuation mark before a
// space, a line break before an ASCII letter) are pieces of Tekken too: no
// letter alternative can take the space, and \s*[\r\n]+ stops at the
// letter.
func (s *Splitter) appendEndsTekken(ends []int, t string, i int) ([]int, int) {
	for i < len(t) && len(ends)+2 <= cap(ends) {
		j := i
		if t[j] == ' ' {
			j++
		}
		start := j
		for j < len(t) && asciiUpper[t[j]] {
			j++
		}
		for ; j+8 <= len(t); j += 8 {
			w := uint64(t[j]) | uint64(t[j+1])<<8 | uint64(t[j+2])<<16 | uint64(t[j+3])<<24 |
				uint64(t[j+4])<<32 | uint64(t[j+5])<<40 | uint64(t[j+6])<<48 | uint64(t[j+7])<<56
			if m := notLower(w); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				goto end
			}
		}
		for j < len(t) && asciiLower[t[j]] {
			j++
		}
	end:
		if j > start && (j == len(t) || t[j] < utf8.RuneSelf) {
			ends = append(ends, j)
			i = j
			continue
		}
		if i+1 < len(t) && (t[i+1] == ' ' && asciiPunctNotQuote[t[i]] || t[i] == '\n' && asciiLetter[t[i+1]]) {
			i++
			ends = append(ends, i)
			continue
		}
		a, b := s.Next(t, i)
		if a > i {
			ends = append(ends, a) // a gap, which valid UTF-8 never leaves
		}
		if a == b {
			return ends, len(t)
		}
		ends = append(ends, b)
		i = b
	}
	return ends, i
}

// AppendPieces appends the pieces of t to dst, in order. It is a convenience
// for tests and tools; encoders call Next, which does not allocate.
func (s *Splitter) AppendPieces(dst []string, t string) []string {
	for i := 0; i < len(t); {
		start, end := s.Next(t, i)
		if start == end {
			break
		}
		dst = append(dst, t[start:end])
		i = end
	}
	return dst
}

// o200k matches the o200k_base pattern (or the Tekken pattern) at i and
// returns the match's end, or i if no alternative matches.
func (s *Splitter) o200k(t string, i int) int {
	c0, n0 := s.class(t, i)
	// Alternatives 1 and 2: the optional prefix is tried first with one
	// character, then with none; alternative 1 is tried in full before 2.
	prefixed := c0&clsPrefix != 0 && i+n0 < len(t)
	if prefixed {
		if e := s.upperStarLowerPlus(t, i+n0); e > 0 {
			return e
		}
	}
	if c0&(clsUpper|clsLower) != 0 {
		if e := s.upperStarLowerPlus(t, i); e > 0 {
			return e
		}
	}
	if prefixed {
		if e := s.upperPlusLowerStar(t, i+n0); e > 0 {
			return e
		}
	}
	if c0&clsUpper != 0 {
		if e := s.upperPlusLowerStar(t, i); e > 0 {
			return e
		}
	}
	if c0&clsNumber != 0 {
		if s.pattern == Tekken {
			return i + n0
		}
		return s.upTo3Numbers(t, i)
	}
	if e := s.punctuation(t, i, c0, true); e > i {
		return e
	}
	if c0&clsSpace != 0 {
		return s.whitespace(t, i, true)
	}
	return i
}

// upperStarLowerPlus matches U*L+C? at j (U, L the o200k upper and lower
// classes, C the contractions, which Tekken lacks) and returns the end, or -1. The greedy U* is
// backtracked one rune at a time until L+ can start: L+ starts right after
// the U run if that rune is in L, else at the last rune of the run that is
// also in L (the runes after it are in U only, so L+ takes just that one).
func (s *Splitter) upperStarLowerPlus(t string, j int) int {
	e, lastBoth := j, -1
	for e < len(t) {
		c, n := s.class(t, e)
		if c&clsUpper == 0 {
			break
		}
		e += n
		if c&clsLower != 0 {
			lastBoth = e
		}
	}
	if e < len(t) {
		if c, _ := s.class(t, e); c&clsLower != 0 {
			return s.contraction(t, s.run(t, e, clsLower))
		}
	}
	if lastBoth >= 0 {
		return s.contraction(t, lastBoth)
	}
	return -1
}

// upperPlusLowerStar matches U+L*C? at j and returns the end, or -1.
func (s *Splitter) upperPlusLowerStar(t string, j int) int {
	e := s.run(t, j, clsUpper)
	if e == j {
		return -1
	}
	return s.contraction(t, s.run(t, e, clsLower))
}

// contraction matches the optional (?i:'s|'t|'re|'ve|'m|'ll|'d) at the end
// of O200k's letter alternatives, which Tekken's lack.
func (s *Splitter) contraction(t string, f int) int {
	if s.pattern == Tekken {
		return f
	}
	return contraction(t, f, true)
}

// upTo3Numbers matches \p{N}{1,3} at i, where the first rune is a number.
func (s *Splitter) upTo3Numbers(t string, i int) int {
	for k := 0; k < 3 && i < len(t); k++ {
		c, n := s.class(t, i)
		if c&clsNumber == 0 {
			break
		}
		i += n
	}
	return i
}

// punctuation matches " ?[^\s\p{L}\p{N}]+" at i, followed by [\r\n/]* if
// slash, else by [\r\n]*. It returns i if there is no match.
func (s *Splitter) punctuation(t string, i int, c0 uint16, slash bool) int {
	start := i
	if t[i] == ' ' && i+1 < len(t) {
		if c, _ := s.class(t, i+1); c&clsOther != 0 {
			start = i + 1
		}
	}
	if start == i && c0&clsOther == 0 {
		return i
	}
	e := s.run(t, start, clsOther)
	for e < len(t) && (t[e] == '\r' || t[e] == '\n' || slash && t[e] == '/') {
		e++
	}
	return e
}

// whitespace matches the whitespace alternatives at i, where the first rune
// is a space: \s*[\r\n]+ (if newlines), then \s+(?!\S), then \s+.
func (s *Splitter) whitespace(t string, i int, newlines bool) int {
	e, firstNewline, lastNewline, lastStart, runes := i, -1, -1, i, 0
	for e < len(t) {
		c, n := s.class(t, e)
		if c&clsSpace == 0 {
			break
		}
		if t[e] == '\r' || t[e] == '\n' {
			lastNewline = e
			if firstNewline < 0 {
				firstNewline = e
			}
		}
		lastStart = e
		runes++
		e += n
	}
	switch {
	case newlines && firstNewline >= 0 && s.tiktokenGo:
		// The defective backtracking stops at the first newline, and
		// [\r\n]+ takes the newlines that follow it.
		e = firstNewline
		for e < len(t) && (t[e] == '\r' || t[e] == '\n') {
			e++
		}
		return e
	case newlines && lastNewline >= 0:
		// \s* backtracks to the last newline; [\r\n]+ takes it alone,
		// since no newline follows it inside the run.
		return lastNewline + 1
	case e == len(t) || runes == 1:
		return e
	default:
		// \s+ gives back its last rune so that (?!\S) holds.
		return lastStart
	}
}

// contraction returns the end of an English contraction ('s 't 're 've 'm 'll
// 'd) at f, or f if there is none. Case-insensitive matching follows Unicode
// simple case folding, under which ſ (U+017F) is an s.
func contraction(t string, f int, caseless bool) int {
	if f+1 >= len(t) || t[f] != '\'' {
		return f
	}
	a := t[f+1]
	var b byte
	if f+2 < len(t) {
		b = t[f+2]
	}
	if caseless {
		a, b = lower(a), lower(b)
		if a == 0xc5 && b == 0xbf { // ſ
			return f + 3
		}
	}
	switch a {
	case 's', 't', 'm', 'd':
		return f + 2
	case 'r', 'v':
		if b == 'e' {
			return f + 3
		}
	case 'l':
		if b == 'l' {
			return f + 3
		}
	}
	return f
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// cl100k matches the cl100k_base pattern at i and returns the match's end, or
// i if no alternative matches.
func (s *Splitter) cl100k(t string, i int) int {
	if e := contraction(t, i, true); e > i {
		return e
	}
	c0, n0 := s.class(t, i)
	if c0&clsPrefix != 0 && i+n0 < len(t) {
		if c, _ := s.class(t, i+n0); c&clsLetter != 0 {
			return s.run(t, i+n0, clsLetter)
		}
	}
	if c0&clsLetter != 0 {
		return s.run(t, i, clsLetter)
	}
	if c0&clsNumber != 0 {
		if s.pattern == Qwen2 {
			return i + n0
		}
		return s.upTo3Numbers(t, i)
	}
	if e := s.punctuation(t, i, c0, false); e > i {
		return e
	}
	if c0&clsSpace != 0 {
		return s.whitespace(t, i, true)
	}
	return i
}

// gpt2 matches the r50k_base/p50k_base pattern at i and returns the match's
// end, or i if no alternative matches.
func (s *Splitter) gpt2(t string, i int) int {
	if e := contraction(t, i, false); e > i {
		return e
	}
	c0, _ := s.class(t, i)
	start, cs := i, c0
	if t[i] == ' ' && i+1 < len(t) {
		start = i + 1
		cs, _ = s.class(t, start)
	}
	for _, mask := range [3]uint16{clsLetter, clsNumber, clsOther} {
		if cs&mask != 0 {
			return s.run(t, start, mask)
		}
		if c0&mask != 0 {
			return s.run(t, i, mask)
		}
	}
	if c0&clsSpace != 0 {
		return s.whitespace(t, i, false)
	}
	return i
}

// deepseek matches the DeepSeekV3 pattern at i and returns the match's end,
// or i if no alternative matches.
func (s *Splitter) deepseek(t string, i int) int {
	c0, n0 := s.class(t, i)
	// [ASCII punctuation][A-Za-z]+
	if c0&clsASCIIPunct != 0 && i+1 < len(t) {
		if c, _ := s.class(t, i+1); c&clsASCIILetter != 0 {
			return s.run(t, i+1, clsASCIILetter)
		}
	}
	// [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
	if c0&clsPrefixDS != 0 && i+n0 < len(t) {
		if c, _ := s.class(t, i+n0); c&clsLetterMark != 0 {
			return s.run(t, i+n0, clsLetterMark)
		}
	}
	if c0&clsLetterMark != 0 {
		return s.run(t, i, clsLetterMark)
	}
	//  ?[\p{P}\p{S}]+[\r\n]*
	start := i
	if t[i] == ' ' && i+1 < len(t) {
		if c, _ := s.class(t, i+1); c&clsPunctSym != 0 {
			start = i + 1
		}
	}
	if start > i || c0&clsPunctSym != 0 {
		e := s.run(t, start, clsPunctSym)
		for e < len(t) && (t[e] == '\r' || t[e] == '\n') {
			e++
		}
		return e
	}
	if c0&clsSpace != 0 {
		return s.whitespace(t, i, true)
	}
	return i
}
