package bpe

import (
	"slices"
	"unicode/utf8"
)

// AppendReplacingInvalid appends s to dst with every maximal ill-formed
// subsequence replaced by U+FFFD, the replacement practice of the Unicode
// standard (section 3.9) that Python's, tiktoken's and Hugging Face's
// decoders follow. Both tokenizers use it to decode token bytes to text.
func AppendReplacingInvalid(dst []byte, s string) []byte {
	// Room for s and a few replacements at once: no regrowth copies.
	dst = slices.Grow(dst, len(s)+len(s)/16+64)
	for len(s) > 0 {
		i := ValidPrefix(s)
		dst = append(dst, s[:i]...)
		if s = s[i:]; len(s) == 0 {
			break
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
		s = s[maximalSubpart(s):]
	}
	return dst
}

// ValidPrefix returns the length of the longest prefix of s that is valid
// UTF-8 (len(s) if s is valid), stepping over ASCII eight bytes at a time,
// so that a long text with one ill-formed sequence is copied in a few large
// appends.
func ValidPrefix(s string) int {
	i := 0
	for i < len(s) {
		if i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if w&0x8080808080808080 == 0 {
				i += 8
				continue
			}
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return i
}

// maximalSubpart returns the length of the longest prefix of s that starts a
// well-formed UTF-8 sequence without completing it (at least 1), given that s
// does not start with a complete one.
func maximalSubpart(s string) int {
	lo, hi := byte(0x80), byte(0xbf)
	var need int
	switch c := s[0]; {
	case 0xc2 <= c && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c == 0xed:
		need, hi = 2, 0x9f
	case 0xe1 <= c && c <= 0xef:
		need = 2
	case c == 0xf0:
		need, lo = 3, 0x90
	case 0xf1 <= c && c <= 0xf3:
		need = 3
	case c == 0xf4:
		need, hi = 3, 0x8f
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(s); n++ {
		c := s[n]
		if n == 1 && (c < lo || c > hi) || n > 1 && (c < 0x80 || c > 0xbf) {
			break
		}
	}
	return n
}
