package hf

import (
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// TestIsNormalMatchesNorm checks the ASCII-skipping normality check against
// norm's on random mixes of ASCII, combining marks (also in runs longer
// than the 30 non-starters after which norm inserts U+034F), precomposed
// and compatibility characters and Hangul jamo, in every form.
func TestIsNormalMatchesNorm(t *testing.T) {
	parts := []string{"a", "e", "A", " ", "\n", "ab cd ", "0", "\u0301", "\u0308", "\u0323", "\u00e9", "\u00c5",
		"\u212b", "\ufb01", "\u2460", "\u1100", "\u1161", "\u11a8", "\uac00", "\u0f73", "\u00a0", "\U0001d400",
		strings.Repeat("x", 17), "\ufffd", strings.Repeat("\u0301", 31), strings.Repeat("\u0323\u0301", 20)}
	rng := rand.New(rand.NewPCG(1, 2))
	forms := []norm.Form{norm.NFC, norm.NFD, norm.NFKC, norm.NFKD}
	counts := make([]int, 2)
	var it norm.Iter
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		for _, f := range forms {
			want := f.IsNormalString(s)
			if f.String(s) == s != want {
				t.Fatalf("%v: IsNormalString(%+q) = %v, but String gives %+q", f, s, want, f.String(s))
			}
			if got := isNormal(f, s, &it); got != want {
				t.Fatalf("isNormal(%v, %+q) = %v, want %v", f, s, got, want)
			}
			if want {
				counts[1]++
			} else {
				counts[0]++
			}
		}
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("normal/not normal: %v: the test does not exercise both", counts)
	}
}
