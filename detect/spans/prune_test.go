package spans

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tracemark/tracemark/detect"
)

// TestPayloadPruning compares the payload scan with an exhaustive one that
// evaluates every window exactly, on random unmarked and marked texts,
// payload sizes and radices, at several levels: each window's lower bound
// never exceeds its exact ln p-value, the spans and the verdict are the
// same, the local p-value is the same wherever it is a detection and never
// smaller otherwise, and most windows of unmarked texts are skipped.
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
				fast.evaluated, fast.pruned, full.evaluated, full.pruned = 0, 0, 0, 0
				got := fast.Scan(ids, nil)
				want := full.Scan(ids, nil)
				if full.excess > 1e-9 {
					t.Fatalf("%s: a window's lower bound exceeds its exact ln p-value by %g", spec, full.excess)
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
