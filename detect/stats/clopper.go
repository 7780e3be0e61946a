package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ClopperPearson returns the exact (Clopper–Pearson) two-sided confidence
// interval of level 1-alpha for a binomial proportion with k successes in
// n trials: lo is the alpha/2 quantile of Beta(k, n-k+1) and hi the
// 1-alpha/2 quantile of Beta(k+1, n-k), the solutions of
// P(X >= k | lo) = alpha/2 and P(X <= k | hi) = alpha/2 (lo = 0 when k = 0,
// hi = 1 when k = n). It returns NaNs for an impossible count.
func ClopperPearson(k, n int, alpha float64) (lo, hi float64) {
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

// KSUniformExcess returns the one-sided Kolmogorov–Smirnov statistic
// D+ = max_i (i/n - x_(i)) of samples against U(0,1), the largest excess of
// the empirical distribution over the uniform one (too many small
// p-values: the anti-conservative direction), and the bound
// exp(-2 n D+²) on its p-value (Smirnov; exact asymptotically and
// conservative for finite n). Discrete p-values, which are conservative,
// do not make it reject. samples is not modified.
func KSUniformExcess(samples []float64) (d, pValue float64) {
	n := len(samples)
	if n == 0 {
		return 0, 1
	}
	d, _ = ksDistances(samples)
	return d, min(1, math.Exp(-2*float64(n)*d*d))
}
