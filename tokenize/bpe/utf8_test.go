package bpe

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// replaceRuneByRune is the definition AppendReplacingInvalid implements,
// one rune at a time.
func replaceRuneByRune(s string) []byte {
	var dst []byte
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r != utf8.RuneError || n > 1 {
			dst, s = append(dst, s[:n]...), s[n:]
			continue
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
		s = s[maximalSubpart(s):]
	}
	return dst
}

func TestAppendReplacingInvalidMatchesRuneByRune(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b ", "\n", "é", "€", "𝄞", "\xff", "\xe2\x82", "\xf0\x9d", "\xc3", "\xed\xa0\x80", "\xe0\x80", "\x80"}
	for trial := 0; trial < 20000; trial++ {
		var b []byte
		for n := rng.IntN(40); n > 0; n-- {
			if rng.IntN(3) == 0 {
				b = append(b, "abcdefghijklmnop"[:1+rng.IntN(16)]...)
				continue
			}
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		s := string(b)
		got, want := AppendReplacingInvalid([]byte("x"), s), append([]byte("x"), replaceRuneByRune(s)...)
		if string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("%q: result %q is not valid UTF-8", s, got)
		}
	}
}

func FuzzAppendReplacingInvalid(f *testing.F) {
	for _, s := range []string{"", "abc", "\xff", "é\xe2\x82x", "aaaaaaaaaaaaaaaa\x80bbbbbbbbb", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendReplacingInvalid(nil, s), replaceRuneByRune(s); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}
