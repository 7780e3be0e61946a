// Package attack implements the text-editing attacks of the robustness
// benchmark: edits an adversary (or an innocent editor) applies to
// watermarked output before it is tested.
//
// Token-level attacks (Delete, Insert, Substitute, SubstituteWithModel,
// CopyPaste, ReEncode) work on token-ID slices; text-level attacks
// (Homoglyphs, ZeroWidth, Case, Whitespace) work on strings. Every attack
// returns a new value and never modifies its input.
//
// An attack's strength is a fraction in [0, 1]: the share of the eligible
// units (tokens, letters, characters, whitespace runs) that it edits. The
// number of edits is always exactly round(strength·n), rounding halves away
// from zero, and the edited units are chosen uniformly without replacement,
// so strength 0 leaves the input unchanged. All randomness comes from the
// caller's *rand.Rand: the same seed and input give the same output.
//
// Catalogue lists the attacks under names with a uniform signature, for
// benchmarks that loop over them.
package attack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrStrength is wrapped by the error an attack returns for a strength that
// is NaN or outside [0, 1].
var ErrStrength = errors.New("strength must be in [0, 1]")

// ErrShortHuman is wrapped by the error CopyPaste returns when the human text
// is too short to surround the marked span.
var ErrShortHuman = errors.New("not enough human text")

// errNilRand is returned (wrapped) when an attack gets a nil *rand.Rand.
var errNilRand = errors.New("nil *rand.Rand")

// edits validates frac and returns round(frac·n), the number of the n
// eligible units an attack of strength frac edits.
func edits(rng *rand.Rand, frac float64, n int) (int, error) {
	if rng == nil {
		return 0, errNilRand
	}
	if math.IsNaN(frac) || frac < 0 || frac > 1 {
		return 0, fmt.Errorf("%v: %w", frac, ErrStrength)
	}
	return min(int(math.Round(frac*float64(n))), n), nil
}

// choose returns a mask of length n with exactly m true entries, chosen
// uniformly at random without replacement (a partial Fisher–Yates shuffle).
func choose(rng *rand.Rand, n, m int) []bool {
	mask := make([]bool, n)
	if m <= 0 {
		return mask
	}
	if m == n {
		for i := range mask {
			mask[i] = true
		}
		return mask
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := range m {
		j := i + rng.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
		mask[perm[i]] = true
	}
	return mask
}
