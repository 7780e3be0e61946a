package bpe

import "unicode/utf8"

// AppendReplacingInvalid appends s to dst with every maximal ill-formed
// subsequence replaced by U+FFFD, the replacement practice of the Unicode
// standard (section 3.9) that Python's, tiktoken's and Hugging Face's
// decoders follow. Both tokenizers use it to decode token bytes to text.
func AppendReplacingInvalid(dst []byte, s string) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, s[:n]...)
			s = s[n:]
			continue
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
		s = s[maximalSubpart(s):]
	}
	return dst
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
