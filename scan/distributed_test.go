package scan

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/detect"
)

// TestBHTableEqualsInMemory checks the exact q-values from only the
// candidates (p <= cap) against detect.BenjaminiHochberg over all
// p-values: bit-identical for every q <= cap, and every other document
// reported above the cap; with ties, p = 1 and strong signals.
func TestBHTableEqualsInMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 9))
	for trial := 0; trial < 40; trial++ {
		m := 1 + rng.IntN(3000)
		lp := make([]float64, m)
		for i := range lp {
			switch r := rng.Float64(); {
			case r < 0.1:
				lp[i] = 0 // nothing scored
			case r < 0.2:
				lp[i] = -float64(rng.IntN(5)) // ties
			case r < 0.3:
				lp[i] = -20 * rng.Float64() // watermarked
			default:
				lp[i] = math.Log10(rng.Float64())
			}
		}
		want := detect.BenjaminiHochberg(lp)
		for _, qcap := range []float64{1, 0.5, 0.1, 0.01, 1e-6} {
			var cands []float64
			for _, v := range lp {
				if BHCandidates(v, qcap) {
					cands = append(cands, v)
				}
			}
			table, err := NewBHTable(m, qcap, cands)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range lp {
				q, exact := table.Lookup(v)
				inCap := want[i] <= math.Log10(qcap)
				if inCap != exact {
					t.Fatalf("trial %d cap %v: document %d (log10 p %v, q %v): exact %v", trial, qcap, i, v, want[i], exact)
				}
				if exact && q != want[i] {
					t.Fatalf("trial %d cap %v: document %d: log10 q %v, in memory %v", trial, qcap, i, q, want[i])
				}
			}
		}
	}
	if _, err := NewBHTable(2, 0, nil); err == nil {
		t.Error("cap 0 accepted")
	}
	if _, err := NewBHTable(1, 0.1, []float64{-3, -4}); err == nil {
		t.Error("more candidates than documents accepted")
	}
}
