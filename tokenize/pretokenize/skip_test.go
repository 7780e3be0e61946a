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
