package tokenize

import (
	"unicode"
	"unicode/utf8"
)

// CutPoint returns the largest i <= len(text), past its first half, at
// which text can be cut so that encoding text[:i] and text[i:] apart gives
// the tokens of encoding text whole, for every encoding tracemark knows:
// after a single line break between a non-space and a letter or digit (no
// split pattern joins a line break to the word after it, and a lone one is
// its own piece), else before a single space between two letters (the
// space begins the next word's piece). It returns -1 if text has no such place
// in its second half; the caller then cuts at a UTF-8 boundary, which may
// change the few tokens at the cut (never the validity of a test, only
// which tokens are scored there).
func CutPoint(text []byte) int {
	half := len(text) / 2
	for i := len(text) - 1; i > half; i-- {
		if text[i-1] == '\n' && startsWord(text[i:]) && (i < 2 || !isSpace(text[i-2])) {
			return i
		}
	}
	for i := len(text) - 2; i > half; i-- {
		if text[i] == ' ' && startsLetter(text[i+1:]) && endsLetter(text[:i]) && (i < 2 || text[i-1] != ' ') {
			return i
		}
	}
	return -1
}

// UTF8Cut returns the largest i <= len(text) that does not split a UTF-8
// sequence (at least len(text)-3).
func UTF8Cut(text []byte) int {
	for i := len(text); i > 0 && i > len(text)-utf8.UTFMax; i-- {
		if i == len(text) || utf8.RuneStart(text[i]) {
			return i
		}
	}
	return len(text)
}

func startsWord(b []byte) bool {
	r, n := utf8.DecodeRune(b)
	return n > 0 && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func startsLetter(b []byte) bool {
	r, n := utf8.DecodeRune(b)
	return n > 0 && r != utf8.RuneError && unicode.IsLetter(r)
}

func endsLetter(b []byte) bool {
	r, n := utf8.DecodeLastRune(b)
	return n > 0 && r != utf8.RuneError && unicode.IsLetter(r)
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
