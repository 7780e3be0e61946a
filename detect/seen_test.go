package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestSeenSetExactUnderTagCollisions: with its tags cut to one bit, so
// that half of the probes of occupied slots match the tag, the dedup set
// still keeps exactly the tuples a map keeps: equal tags never merge
// unequal tuples.
func TestSeenSetExactUnderTagCollisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var s seenSet
	for _, n := range []int{10, 700, 3000} {
		obs := make([]watermark.Observation, n)
		for i := range obs {
			obs[i].Tuple = watermark.Tuple{Seed: uint64(rng.IntN(50)), Token: uint32(rng.IntN(30))}
		}
		s.reset(n)
		s.shift = 31
		var kept []watermark.Observation
		want := map[watermark.Tuple]bool{}
		for _, o := range obs {
			isNew := !want[o.Tuple]
			want[o.Tuple] = true
			if got := s.add(o.Tuple, kept); got != isNew {
				t.Fatalf("n=%d: add(%v) = %v, want %v", n, o.Tuple, got, isNew)
			}
			if isNew {
				kept = append(kept, o)
			}
		}
	}
}
