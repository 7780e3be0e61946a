package stats

import (
	"math"
	"testing"
)

// logPoissonCDF returns ln Σ_{k<n} e^-x x^k/k!, which equals ln Q(n, x) for
// integer n: an independent finite sum.
func logPoissonCDF(n int, x float64) float64 {
	terms := make([]float64, n)
	m := math.Inf(-1)
	for k := 0; k < n; k++ {
		lg, _ := math.Lgamma(float64(k + 1))
		terms[k] = -x + float64(k)*math.Log(x) - lg
		m = max(m, terms[k])
	}
	s := 0.0
	for _, t := range terms {
		s += math.Exp(t - m)
	}
	return m + math.Log(s)
}

func TestLogGammaUpperTailIntegerShape(t *testing.T) {
	for _, n := range []int{1, 2, 5, 30, 200, 1000} {
		for _, f := range []float64{0.01, 0.3, 0.9, 1, 1.2, 2, 5, 20} {
			x := f * float64(n)
			got, want := LogGammaUpperTail(float64(n), x), logPoissonCDF(n, x)
			if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("n=%d x=%v: ln Q = %.15g, Poisson sum %.15g", n, x, got, want)
			}
		}
	}
	if got := LogGammaUpperTail(1, 1000); math.Abs(got+1000) > 1e-9 {
		t.Errorf("ln Q(1, 1000) = %v, want -1000", got)
	}
}

func TestChiSquareSurvivalKnownValues(t *testing.T) {
	// Textbook critical values: χ²_1 at 3.841459 and χ²_10 at 18.307038 have
	// upper tail 0.05; χ²_2 has survival e^{-x/2}.
	for _, c := range []struct {
		x    float64
		df   int
		want float64
	}{{3.841458820694124, 1, 0.05}, {18.307038053275146, 10, 0.05}, {4, 2, math.Exp(-2)}} {
		if got := ChiSquareSurvival(c.x, c.df); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("P(χ²_%d >= %v) = %v, want %v", c.df, c.x, got, c.want)
		}
	}
}
