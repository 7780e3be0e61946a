// Package bpe is a byte-level byte-pair encoder: the merge step of OpenAI's
// tiktoken, on pieces a pre-tokenizer has already cut (see package
// pretokenize). A vocabulary is a set of byte strings with ranks; the rank of
// a token is its ID, and merging always joins the adjacent pair whose union
// has the lowest rank, leftmost first, until no adjacent pair is a token.
//
// Vocabularies come from the tiktoken format (one token per line, base64 of
// its bytes, a space, its rank: the format of OpenAI's *.tiktoken files and of
// the tokenizer.model many open models ship) or from any source of (bytes,
// rank) pairs, such as the vocabularies embedded in
// github.com/tiktoken-go/tokenizer.
package bpe

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxRank is the largest rank a vocabulary may hold.
const MaxRank = 1<<31 - 2

// Ranks is an immutable byte-level BPE vocabulary: token bytes by rank, and an
// open-addressing hash index from bytes to rank. It is safe for concurrent
// use.
type Ranks struct {
	arena []byte   // token bytes, concatenated in rank order
	start []uint32 // token r is arena[start[r]:start[r+1]]; empty means no token has rank r
	// index slots hold tag | rank+1, where rank+1 takes the low bits
	// (rankMask) and tag is the other bits of the low half of the token's
	// hash; 0 is an empty slot. The slot's position is the hash's top bits.
	index    []uint32
	rankMask uint32
	shift    uint // 64 - log2(len(index))
	byByte   [256]uint32
	// byPair holds the rank of every two-byte token, indexed by its bytes
	// (first<<8 | second), or noRank: the first merges of every piece look
	// up byte pairs, and this 256 KiB table answers without hashing.
	byPair []uint32
	count  int
}

// Builder collects (bytes, rank) pairs for a Ranks.
type Builder struct {
	tokens map[string]uint32
	byRank map[uint32]string
	err    error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{tokens: map[string]uint32{}, byRank: map[uint32]string{}}
}

// Add records that token has the given rank. Empty tokens, ranks above
// MaxRank, and tokens or ranks seen before are errors, reported by Build.
func (b *Builder) Add(token []byte, rank int) {
	if b.err != nil {
		return
	}
	switch {
	case len(token) == 0:
		b.err = fmt.Errorf("empty token with rank %d", rank)
	case rank < 0 || rank > MaxRank:
		b.err = fmt.Errorf("rank %d out of range [0, %d]", rank, MaxRank)
	}
	if b.err != nil {
		return
	}
	if r, ok := b.tokens[string(token)]; ok {
		b.err = fmt.Errorf("token %q has two ranks, %d and %d", token, r, rank)
		return
	}
	if t, ok := b.byRank[uint32(rank)]; ok {
		b.err = fmt.Errorf("rank %d is given to two tokens, %q and %q", rank, t, token)
		return
	}
	b.tokens[string(token)] = uint32(rank)
	b.byRank[uint32(rank)] = string(token)
}

// Build returns the vocabulary. Every single byte must be a token, as in every
// byte-level BPE vocabulary: otherwise some inputs could not be encoded.
func (b *Builder) Build() (*Ranks, error) {
	if b.err != nil {
		return nil, b.err
	}
	maxRank := uint32(0)
	size := 0
	for t, r := range b.tokens {
		maxRank = max(maxRank, r)
		size += len(t)
	}
	for c := range 256 {
		if _, ok := b.tokens[string([]byte{byte(c)})]; !ok {
			return nil, fmt.Errorf("byte 0x%02x is not a token: not a byte-level BPE vocabulary", c)
		}
	}
	if int(maxRank) > 2*len(b.tokens)+1024 {
		return nil, fmt.Errorf("ranks too sparse: %d tokens, largest rank %d", len(b.tokens), maxRank)
	}
	rk := &Ranks{arena: make([]byte, 0, size), start: make([]uint32, maxRank+2)}
	for r := uint32(0); r <= maxRank; r++ {
		rk.start[r] = uint32(len(rk.arena))
		rk.arena = append(rk.arena, b.byRank[r]...)
	}
	rk.start[maxRank+1] = uint32(len(rk.arena))
	if err := rk.buildIndex(true); err != nil {
		return nil, err
	}
	return rk, nil
}

// Len returns the number of tokens.
func (rk *Ranks) Len() int { return rk.count }

// MaxRank returns the largest rank in the vocabulary.
func (rk *Ranks) MaxRank() int { return len(rk.start) - 2 }

// Token returns the bytes of the token with the given rank, and whether there
// is one. The slice must not be modified.
func (rk *Ranks) Token(rank uint32) ([]byte, bool) {
	if int(rank) >= len(rk.start)-1 {
		return nil, false
	}
	t := rk.arena[rk.start[rank]:rk.start[rank+1]]
	return t, len(t) > 0
}

// Rank returns the rank of the token with the bytes of s, and whether s is a
// token. It does not allocate.
func (rk *Ranks) Rank(s string) (uint32, bool) {
	h := hashString(s)
	tag := uint32(h) &^ rk.rankMask
	mask := uint64(len(rk.index) - 1)
	for i := h >> rk.shift; ; i = (i + 1) & mask {
		slot := rk.index[i]
		if slot == 0 {
			return 0, false
		}
		if slot&^rk.rankMask == tag {
			r := slot&rk.rankMask - 1
			if string(rk.arena[rk.start[r]:rk.start[r+1]]) == s {
				return r, true
			}
		}
	}
}

// hashString is a fast non-cryptographic hash of short strings (tokens are
// mostly under 16 bytes). Its top bits place a token in the index, its low
// bits tag the slot.
func hashString(s string) uint64 {
	const (
		k0 = 0x9e3779b97f4a7c15
		k1 = 0xbf58476d1ce4e5b9
		k2 = 0x94d049bb133111eb
	)
	h := uint64(len(s)) * k0
	for len(s) > 8 {
		h = (h ^ load64(s)) * k1
		h ^= h >> 31
		s = s[8:]
	}
	var x uint64
	switch n := len(s); {
	case n >= 4:
		x = uint64(load32(s)) | uint64(load32(s[n-4:]))<<32
	case n > 0:
		x = uint64(s[0]) | uint64(s[n/2])<<8 | uint64(s[n-1])<<16
	}
	h = (h ^ x) * k2
	h ^= h >> 29
	h *= k1
	return h ^ h>>32
}

func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// ParseTiktoken reads a vocabulary in the tiktoken format: one token per line,
// the base64 encoding of its bytes, one space, its decimal rank. Blank lines
// are skipped. Errors name the line.
func ParseTiktoken(r io.Reader) (*Ranks, error) {
	b := NewBuilder()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var buf []byte
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if len(text) == 0 {
			continue
		}
		sp := bytes.IndexByte(text, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("line %d: want \"BASE64 RANK\", got no space", line)
		}
		enc, num := text[:sp], text[sp+1:]
		n := base64.StdEncoding.DecodedLen(len(enc))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(buf[:n], enc)
		if err != nil {
			return nil, fmt.Errorf("line %d: token: %w", line, err)
		}
		rank, err := strconv.Atoi(string(num))
		if err != nil {
			return nil, fmt.Errorf("line %d: rank: %w", line, err)
		}
		b.Add(buf[:n], rank)
		if b.err != nil {
			return nil, fmt.Errorf("line %d: %w", line, b.err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than 1 MiB", line+1)
		}
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return nil, errors.New("empty vocabulary")
	}
	return b.Build()
}

// WriteTiktoken writes rk in the tiktoken format, in rank order.
func (rk *Ranks) WriteTiktoken(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	for r := range uint32(len(rk.start) - 1) {
		t, ok := rk.Token(r)
		if !ok {
			continue
		}
		buf = base64.StdEncoding.AppendEncode(buf[:0], t)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, uint64(r), 10)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write vocabulary: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write vocabulary: %w", err)
	}
	return nil
}
