package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestClopperPearsonSolvesTails checks the interval against its definition
// with the exact binomial tails: P(X >= k | lo) = alpha/2 and
// P(X <= k | hi) = alpha/2.
func TestClopperPearsonSolvesTails(t *testing.T) {
	for _, c := range []struct{ k, n int }{{1, 10}, {5, 10}, {3, 1000}, {50, 5000}, {9, 10}} {
		lo, hi := ClopperPearson(c.k, c.n, 0.05)
		upper := math.Exp(LogBinomialTail(c.k, c.n, lo))
		lower := -math.Expm1(LogBinomialTail(c.k+1, c.n, hi))
		if math.Abs(upper-0.025) > 1e-6 || math.Abs(lower-0.025) > 1e-6 {
			t.Errorf("k=%d n=%d: [%g, %g] gives tails %g and %g, want 0.025", c.k, c.n, lo, hi, upper, lower)
		}
	}
	if lo, hi := ClopperPearson(0, 100, 0.05); lo != 0 || math.Abs(hi-(1-math.Pow(0.025, 0.01))) > 1e-9 {
		t.Errorf("k=0: [%g, %g]", lo, hi)
	}
	if lo, _ := ClopperPearson(-1, 3, 0.05); !math.IsNaN(lo) {
		t.Error("impossible count gave a number")
	}
}

func TestKSUniformExcess(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	u := make([]float64, 2000)
	for i := range u {
		u[i] = rng.Float64()
	}
	if _, p := KSUniformExcess(u); p < 0.01 {
		t.Errorf("uniform samples rejected: p=%g", p)
	}
	// Conservative (super-uniform) p-values never reject.
	for i := range u {
		u[i] = math.Sqrt(u[i])
	}
	if d, p := KSUniformExcess(u); p < 0.9 || d > 0.01 {
		t.Errorf("conservative samples: D+=%g p=%g", d, p)
	}
	// Too many small p-values reject.
	for i := range u {
		u[i] = u[i] * u[i] * u[i] * u[i]
	}
	if _, p := KSUniformExcess(u); p > 1e-6 {
		t.Errorf("anti-conservative samples accepted: p=%g", p)
	}
	if d, p := KSUniformExcess(nil); d != 0 || p != 1 {
		t.Error("empty sample")
	}
}
