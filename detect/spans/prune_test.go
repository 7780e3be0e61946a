package spans

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
)

// TestPayloadPruning compares the payload scan with an exhaustive one that
// evaluates every window exactly, on random unmarked and marked texts,
// payload sizes and radices, at several levels: none of a window's lower
// bounds (every one the screen has: from the blocks' sums, from their slot
// tops, a next-level block's own, the observed and the greedy split, the
// fold bound with point tails) ever exceeds its exact ln p-value, the
// spans and the verdict are the same, the local p-value is the same
// wherever it is a detection and never smaller otherwise, and most windows
// of unmarked texts are skipped.
func TestPayloadPruning(t *testing.T) {
	specs := []string{"kgw:payload_bits=32", "kgw:payload_bits=8", "kgw:payload_bits=16,radix=16", "kgw:payload_bits=12,radix=2"}
	trials := 6
	if testing.Short() {
		trials = 2
	}
	alphas := []float64{1e-2, 1e-6}
	for i, spec := range specs {
		rng := rand.New(rand.NewPCG(uint64(i), 23))
		// One pruned and one exhaustive scanner per level, rekeyed per
		// trial (their slot laws are cached).
		var fasts, fulls []*Scanner
		for r := range trials {
			s := testScheme(t, rng, spec)
			n := 500 + rng.IntN(1000)
			ids := human(rng, n)
			marked := r%2 == 1
			if marked {
				insertMarked(t, s, rng, ids, rng.IntN(n-150), 60+rng.IntN(90))
			}
			for ai, alpha := range alphas {
				if r == 0 {
					d, _ := detect.New(s, detect.Options{Alpha: alpha})
					de, _ := detect.New(s, detect.Options{Alpha: alpha})
					f, _ := New(d, Options{})
					e, _ := New(de, Options{})
					e.exhaustive = true
					fasts, fulls = append(fasts, f), append(fulls, e)
				}
				fast, full := fasts[ai], fulls[ai]
				for _, sc := range []*Scanner{fast, full} {
					if err := sc.Detector().SetScheme(s); err != nil {
						t.Fatal(err)
					}
				}
				fast.evaluated, fast.pruned, full.evaluated, full.pruned, full.checked = 0, 0, 0, 0, 0
				got := fast.Scan(ids, nil)
				want := full.Scan(ids, nil)
				if full.excess > 1e-9 {
					t.Fatalf("%s: a window's lower bound exceeds its exact ln p-value by %g", spec, full.excess)
				}
				if full.checked < 2*want.Windows {
					t.Fatalf("%s: %d bounds checked over %d windows", spec, full.checked, want.Windows)
				}
				if full.evaluated != want.Windows || full.evaluated+full.pruned != want.Windows {
					t.Fatalf("%s: exhaustive scan evaluated %d of %d windows", spec, full.evaluated, want.Windows)
				}
				if got.Detected != want.Detected || !reflect.DeepEqual(got.Spans, want.Spans) {
					t.Fatalf("%s (marked %v, alpha %g): pruned scan %+v, exhaustive %+v", spec, marked, alpha, got, want)
				}
				if got.LocalLog10P < want.LocalLog10P {
					t.Fatalf("%s: pruned local log10 p %v below the exhaustive %v", spec, got.LocalLog10P, want.LocalLog10P)
				}
				if want.LocalPValue <= alpha/2 && got.LocalLog10P != want.LocalLog10P {
					t.Fatalf("%s: significant local log10 p %v, exhaustive %v", spec, got.LocalLog10P, want.LocalLog10P)
				}
				if !marked && alpha == 1e-6 && fast.evaluated*10 > got.Windows {
					t.Errorf("%s: %d of %d windows of an unmarked text evaluated exactly", spec, fast.evaluated, got.Windows)
				}
				if math.IsNaN(got.Log10P) {
					t.Fatalf("%s: NaN p-value", spec)
				}
			}
		}
	}
}

// TestSplitBound checks the lemma behind the block bound of the payload
// screen, exactly for small slots: with x tuples of a slot in one block
// (largest count t') and y in the next (t”), P(M_{x+y} ≥ t'+t”) ≥
// P(M_x ≥ t')·P(B_y ≥ t”), B_y ~ Binomial(y, 1/radix); and the tails
// tailsOf caches are those of stats.MaxCountPMF and the binomial.
func TestSplitBound(t *testing.T) {
	for _, radix := range []int{2, 4, 16} {
		s := &Scanner{tailRadix: radix}
		for x := 0; x <= 24; x++ {
			for y := 0; y <= 24; y++ {
				mx, by, mxy := s.tailsOf(x), s.tailsOf(y), s.tailsOf(x+y)
				for t1 := 0; t1 <= x; t1++ {
					for t2 := 0; t2 <= y; t2++ {
						if lhs, rhs := mxy[2*(t1+t2)], mx[2*t1]+by[2*t2+1]; lhs < rhs-1e-12 {
							t.Fatalf("radix %d, x=%d t'=%d, y=%d t''=%d: ln P(M ≥ t'+t'') = %g below the bound %g", radix, x, t1, y, t2, lhs, rhs)
						}
					}
				}
			}
		}
		for n := 0; n <= 30; n++ {
			tv := s.tailsOf(n)
			for k := 0; k <= n+1; k++ {
				if b := stats.LogBinomialTail(k, n, 1/float64(radix)); math.Abs(tv[2*k+1]-b) > 1e-12 && !(math.IsInf(b, -1) && math.IsInf(tv[2*k+1], -1)) {
					t.Fatalf("radix %d: binomial tail (%d, %d) cached as %g, want %g", radix, k, n, tv[2*k+1], b)
				}
			}
		}
	}
}

// TestPointTail: the screen's binomial tail is a lower bound on the exact
// tail (so foldBound is a lower bound on the fold test's p-value).
func TestPointTail(t *testing.T) {
	for _, p := range []float64{0.5, 0.25, 0.125, 1.0 / 16} {
		for n := 0; n <= 400; n += 7 {
			for k := -1; k <= n+1; k++ {
				if lb, ex := pointTail(k, n, p), stats.LogBinomialTail(k, n, p); lb > ex+1e-12 {
					t.Fatalf("p=%g n=%d k=%d: point bound %g above the tail %g", p, n, k, lb, ex)
				}
			}
		}
	}
}
