package benchmarks

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// clopperPearson returns the exact (Clopper–Pearson) two-sided confidence
// interval of level 1-alpha for a binomial proportion with k successes in
// n trials: lo is the alpha/2 quantile of Beta(k, n-k+1) and hi the
// 1-alpha/2 quantile of Beta(k+1, n-k), the solutions of
// P(X >= k | lo) = alpha/2 and P(X <= k | hi) = alpha/2 (lo = 0 when k = 0,
// hi = 1 when k = n). It returns NaNs for an impossible count.
func clopperPearson(k, n int, alpha float64) (lo, hi float64) {
	if n <= 0 || k < 0 || k > n {
		return math.NaN(), math.NaN()
	}
	hi = 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return lo, hi
}

// quantile returns the q-quantile (0..1) of xs by the nearest-rank rule
// (gonum's empirical quantile: the smallest x with at least q of the sample
// at or below it); NaN for an empty slice. xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return stat.Quantile(q, stat.Empirical, sortedCopy(xs), nil)
}

// mean returns the arithmetic mean (NaN for none).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return stat.Mean(xs, nil)
}

// sortedCopy returns xs sorted ascending, leaving xs alone.
func sortedCopy(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}
