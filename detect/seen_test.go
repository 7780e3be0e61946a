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

// TestLayerWeight: layerWeight equals the sum over layers it replaces,
// for every layer count and random g-values (bits above the layers
// ignored).
func TestLayerWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for m := 1; m <= 64; m++ {
		for trial := 0; trial < 200; trial++ {
			g := rng.Uint64()
			want := 0
			for l := 0; l < m; l++ {
				want += (m - l) * int(g>>l&1)
			}
			if got := layerWeight(g, m); got != want {
				t.Fatalf("m %d g %#x: %d, want %d", m, g, got, want)
			}
		}
	}
}

// TestTallyAddAllMatchesAdd: AddAll gives bit for bit the tally that Add
// gives one observation at a time, for every kind of null.
func TestTallyAddAllMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	obs := make([]watermark.Observation, 1000)
	for i := range obs {
		obs[i] = watermark.Observation{Score: rng.ExpFloat64(), Bits: rng.Uint64() & 0x3FF, Slot: uint8(rng.IntN(4)), Colour: uint8(rng.IntN(3))}
	}
	for _, null := range []watermark.Null{
		{Kind: watermark.GammaNull},
		{Kind: watermark.GammaNull, Shape: 2},
		{Kind: watermark.BinomialNull, P: 0.25, Trials: 1},
		{Kind: watermark.BinomialNull, P: 0.5, Trials: 10},
		{Kind: watermark.BinomialNull, P: 0.5, Trials: 7}, // bits above the layers
		{Kind: watermark.PayloadNull, Radix: 3, Slots: 4},
	} {
		var one, all Tally
		one.N, one.Sum = 3, 1.5 // both start from the same non-empty tally
		all.N, all.Sum = 3, 1.5
		for _, o := range obs {
			one.Add(null, o)
		}
		all.AddAll(null, obs)
		a, _ := one.MarshalJSON()
		b, _ := all.MarshalJSON()
		if one.N != all.N || one.Sum != all.Sum || one.Weighted != all.Weighted || string(a) != string(b) {
			t.Errorf("%+v: AddAll %s, Add %s", null, b, a)
		}
	}
}
