package pretokenize

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSkipASCII checks that skipASCII passes over no digit (when asked) and
// no non-ASCII byte, and stops within 8 bytes of the first one.
func TestSkipASCII(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("az /:09\x7f\n\xc3\xa9")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for k := range b {
			b[k] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		for _, digits := range []bool{false, true} {
			first := strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 || digits && '0' <= r && r <= '9' })
			if first < 0 {
				first = len(s)
			}
			from := rng.IntN(len(s) + 1)
			got := skipASCII(s, from, digits)
			if from <= first && (got > first || got < from || got+8 <= first) {
				t.Fatalf("skipASCII(%q, %d, %v) = %d, first stop at %d", s, from, digits, got, first)
			}
		}
	}
}

// TestASCIILetterRun checks the eight-bytes-at-a-time letter run against a
// byte loop, from every offset of random texts of letters, the bytes around
// them ('@', '[', '`', '{'), digits, spaces and bytes at and above 0x80.
func TestASCIILetterRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := "azAZmq@[`{ 0\x7f\x80\xc1\xe1\xfa\xff"
	for range 5000 {
		b := make([]byte, rng.IntN(40))
		for k := range b {
			if rng.IntN(3) == 0 {
				b[k] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[k] = byte(rng.IntN(256))
			}
			if rng.IntN(2) == 0 {
				b[k] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.IntN(52)]
			}
		}
		text := string(b)
		for i := range len(text) + 1 {
			want := i
			for want < len(text) && ('a' <= text[want] && text[want] <= 'z' || 'A' <= text[want] && text[want] <= 'Z') {
				want++
			}
			if got := asciiLetterRun(text, i); got != want {
				t.Fatalf("asciiLetterRun(%q, %d) = %d, want %d", text, i, got, want)
			}
		}
	}
}

// TestNotLetterMasks checks notLetters and notLower on every byte value in
// every position of a word whose other bytes are random.
func TestNotLetterMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for b := range 256 {
		for pos := range 8 {
			var w uint64
			for k := range 8 {
				c := uint64(rng.IntN(256))
				if k == pos {
					c = uint64(b)
				}
				w |= c << (8 * k)
			}
			for _, f := range []struct {
				name string
				mask func(uint64) uint64
				in   func(byte) bool
			}{
				{"notLetters", notLetters, func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }},
				{"notLower", notLower, func(c byte) bool { return 'a' <= c && c <= 'z' }},
			} {
				m := f.mask(w)
				for k := range 8 {
					c := byte(w >> (8 * k))
					if got, want := m>>(8*k)&0xff, map[bool]uint64{true: 0, false: 0x80}[f.in(c)]; got != want {
						t.Fatalf("%s(%#016x): byte %d (%#02x) gives %#02x, want %#02x", f.name, w, k, c, got, want)
					}
				}
			}
		}
	}
}
