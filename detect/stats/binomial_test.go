package stats

import (
	"math"
	"math/big"
	"testing"
)

// exactLogTails returns ln P(X >= k) for k = 0..n+1 and ln P(X = k) for
// k = 0..n, for X ~ Binomial(n, p), computed with exact integer arithmetic:
// p is the exact binary fraction a/2^m of the float64.
func exactLogTails(n int, p float64) (tails, pmf []float64) {
	r := new(big.Rat).SetFloat64(p)
	a, d := r.Num(), r.Denom() // p = a/d exactly
	b := new(big.Int).Sub(d, a)
	terms := make([]*big.Int, n+1)
	binom := big.NewInt(1)
	for j := 0; j <= n; j++ {
		t := new(big.Int).Exp(a, big.NewInt(int64(j)), nil)
		t.Mul(t, new(big.Int).Exp(b, big.NewInt(int64(n-j)), nil))
		t.Mul(t, binom)
		terms[j] = t
		binom.Mul(binom, big.NewInt(int64(n-j)))
		binom.Quo(binom, big.NewInt(int64(j+1)))
	}
	logDen := float64(n) * bigLog(d)
	tails = make([]float64, n+2)
	pmf = make([]float64, n+1)
	sum := new(big.Int)
	tails[n+1] = math.Inf(-1)
	for j := n; j >= 0; j-- {
		sum.Add(sum, terms[j])
		tails[j] = bigLog(sum) - logDen
		pmf[j] = bigLog(terms[j]) - logDen
	}
	return tails, pmf
}

// bigLog returns ln x for a positive big integer to float64 precision.
func bigLog(x *big.Int) float64 {
	f := new(big.Float).SetPrec(200).SetInt(x)
	mant := new(big.Float)
	exp := f.MantExp(mant) // x = mant · 2^exp, mant in [0.5, 1)
	m, _ := mant.Float64()
	return math.Log(m) + float64(exp)*math.Ln2
}

func TestLogBinomialTailMatchesExactSums(t *testing.T) {
	probs := []float64{0.25, 0.5, 0.3, 0.1, 0.9, 0.01, 0.75}
	sizes := []int{1, 2, 3, 5, 10, 37, 200, 1000, 2000}
	if testing.Short() {
		sizes = []int{1, 2, 3, 5, 10, 37, 200}
	}
	worst := 0.0
	for _, n := range sizes {
		for _, p := range probs {
			tails, pmf := exactLogTails(n, p)
			for k := 0; k <= n+1; k++ {
				got := LogBinomialTail(k, n, p)
				if k == n+1 {
					if !math.IsInf(got, -1) {
						t.Fatalf("n=%d p=%v k=%d: got %v, want -Inf", n, p, k, got)
					}
					continue
				}
				// |Δ ln P| <= 1e-9 means relative error of P below 1e-9.
				if diff := math.Abs(got - tails[k]); diff > 1e-9 || math.IsNaN(got) {
					t.Fatalf("tail n=%d p=%v k=%d: ln P = %.15g, exact %.15g (diff %.3g)", n, p, k, got, tails[k], diff)
				} else {
					worst = max(worst, diff)
				}
				if diff := math.Abs(LogBinomialPMF(k, n, p) - pmf[k]); diff > 1e-9 {
					t.Fatalf("pmf n=%d p=%v k=%d: diff %.3g", n, p, k, diff)
				}
			}
		}
	}
	t.Logf("worst |ln P - exact| = %.3g", worst)
}

func TestLogBinomialTailKnownValues(t *testing.T) {
	cases := []struct {
		name   string
		k, n   int
		p      float64
		wantLn float64
	}{
		{"all 10 green", 10, 10, 0.25, 10 * math.Log(0.25)},                   // 9.5367431640625e-07
		{"at least one of 20", 1, 20, 0.25, math.Log(1 - math.Pow(0.75, 20))}, // 1 - 0.75^20
		{"fair coin, odd n, upper half", 500001, 1000001, 0.5, math.Log(0.5)}, // symmetry
		{"10^6 all green", 1000000, 1000000, 0.25, 1e6 * math.Log(0.25)},      // log10 ≈ -602060
		{"10^6 all but one green", 999999, 1000000, 0.25, 999999*math.Log(0.25) + math.Log(1e6*0.75+0.25)},
		{"zero needed", 0, 5, 0.3, 0},
	}
	for _, c := range cases {
		got := LogBinomialTail(c.k, c.n, c.p)
		if math.Abs(got-c.wantLn) > 1e-9*math.Max(1, math.Abs(c.wantLn)) {
			t.Errorf("%s: ln P = %.15g, want %.15g", c.name, got, c.wantLn)
		}
	}
	if got := Log10(LogBinomialTail(1000000, 1000000, 0.25)); math.Abs(got-(-602059.9913279624)) > 1e-6 {
		t.Errorf("log10 P(all 10^6 green) = %.10f, want -602059.9913279624", got)
	}
}

// TestLogBinomialTailLargeN checks large n against a log-sum-exp of the pmf
// (a different summation path) where the tail has few significant terms.
func TestLogBinomialTailLargeN(t *testing.T) {
	for _, c := range []struct {
		n int
		p float64
	}{{100000, 0.25}, {1000000, 0.25}, {300000, 0.5}} {
		mean := float64(c.n) * c.p
		sd := math.Sqrt(mean * (1 - c.p))
		for _, zs := range []float64{-3, -1, 0, 1, 3, 10, 40} {
			k := int(mean + zs*sd)
			// Sum pmf terms from k upward (or 1 - lower sum) in log space.
			var want float64
			if zs >= 0 {
				want = logSumPMF(k, c.n, c.n, c.p)
			} else {
				want = log1mExp(logSumPMF(0, k-1, c.n, c.p))
			}
			got := LogBinomialTail(k, c.n, c.p)
			if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("n=%d p=%v k=%d: ln P = %.15g, pmf sum %.15g", c.n, c.p, k, got, want)
			}
		}
	}
}

func logSumPMF(lo, hi, n int, p float64) float64 {
	m := math.Inf(-1)
	for j := lo; j <= hi; j++ {
		m = max(m, LogBinomialPMF(j, n, p))
	}
	s := 0.0
	for j := lo; j <= hi; j++ {
		s += math.Exp(LogBinomialPMF(j, n, p) - m)
	}
	return m + math.Log(s)
}

func TestBinomialZ(t *testing.T) {
	if z := BinomialZ(75, 200, 0.25); math.Abs(z-25/math.Sqrt(37.5)) > 1e-12 {
		t.Errorf("z = %v", z)
	}
	if z := BinomialZ(0, 0, 0.25); z != 0 {
		t.Errorf("z(0,0) = %v", z)
	}
}

func TestRandomizedBinomialPIsUniform(t *testing.T) {
	// Exact check: for X ~ Bin(n,p) and u ~ U(0,1), P(P_rand <= a) = a.
	// Integrate over X exactly and over u analytically.
	n, p := 30, 0.25
	for _, a := range []float64{0.001, 0.01, 0.1, 0.5, 0.9} {
		mass := 0.0
		for k := 0; k <= n; k++ {
			gt := math.Exp(LogBinomialTail(k+1, n, p))
			eq := math.Exp(LogBinomialPMF(k, n, p))
			// P_rand = gt + u·eq <= a  <=>  u <= (a-gt)/eq
			frac := max(0, min(1, (a-gt)/eq))
			mass += eq * frac
		}
		if math.Abs(mass-a) > 1e-12 {
			t.Errorf("P(P_rand <= %v) = %v", a, mass)
		}
	}
}

func TestKSUniform(t *testing.T) {
	// Evenly spaced points are as uniform as it gets: D = 1/(2n).
	n := 1000
	x := make([]float64, n)
	for i := range x {
		x[i] = (float64(i) + 0.5) / float64(n)
	}
	d, p := KSUniform(x)
	if math.Abs(d-0.0005) > 1e-12 || p < 0.999 {
		t.Errorf("even grid: D=%v p=%v", d, p)
	}
	// Squared uniforms are not uniform: must reject.
	for i := range x {
		v := (float64(i) + 0.5) / float64(n)
		x[i] = v * v
	}
	if _, p := KSUniform(x); p > 1e-6 {
		t.Errorf("squared grid not rejected: p=%v", p)
	}
	// Known value of the Kolmogorov distribution: P(K > 1.36) ≈ 0.0494.
	if q := KolmogorovQ(1.36); math.Abs(q-0.04939) > 2e-4 {
		t.Errorf("Q(1.36) = %v", q)
	}
}

func TestBinomialCountPlausible(t *testing.T) {
	if !BinomialCountPlausible(100, 10000, 0.01, 0.001) {
		t.Error("the expected count was called implausible")
	}
	if BinomialCountPlausible(200, 10000, 0.01, 0.001) {
		t.Error("twice the expected count was called plausible")
	}
	if BinomialCountPlausible(30, 10000, 0.01, 0.001) {
		t.Error("a third of the expected count was called plausible")
	}
}

func BenchmarkLogBinomialTail(b *testing.B) {
	for i := 0; i < b.N; i++ {
		LogBinomialTail(80, 200, 0.25)
	}
}

func TestZFromLogP(t *testing.T) {
	for _, c := range []struct{ p, z float64 }{{0.5, 0}, {0.15865525393145707, 1}, {0.0013498980316301, 3}, {2.866515718791939e-7, 5}, {7.61985302416047e-24, 10}, {2.7536241186062344e-89, 20}} {
		if got := ZFromLogP(math.Log(c.p)); math.Abs(got-c.z) > 1e-7 {
			t.Errorf("p %g: z %v, want %v", c.p, got, c.z)
		}
	}
	// Continuous across the switch to the asymptotic form, finite far below.
	a, b := ZFromLogP(-19.9999), ZFromLogP(-20.0001)
	if math.Abs(a-b) > 1e-4 {
		t.Errorf("jump at ln p = -20: %v vs %v", a, b)
	}
	// Beyond z = 37 (the asymptotic branch): ln Q(40) from the series.
	if z := ZFromLogP(-800 - math.Log(40) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1.0/1600+3.0/(1600*1600))); math.Abs(z-40) > 1e-6 {
		t.Errorf("z = 40: got %v", z)
	}
	if z := ZFromLogP(-1e6); math.IsInf(z, 0) || math.IsNaN(z) || z < 1000 {
		t.Errorf("ln p = -1e6: z %v", z)
	}
	if z := ZFromLogP(0); z != -8.2 {
		t.Errorf("p = 1: z %v", z)
	}
}
