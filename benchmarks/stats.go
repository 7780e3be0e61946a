package benchmarks

import (
	"math"
	"slices"

	"github.com/tracemark/tracemark/detect/stats"
)

// ClopperPearson returns the exact (Clopper–Pearson) two-sided confidence
// interval of level 1-alpha for a binomial proportion with k successes in
// n trials: lo solves P(X >= k | lo) = alpha/2 and hi solves
// P(X <= k | hi) = alpha/2 (lo = 0 when k = 0, hi = 1 when k = n). Both are
// found by bisection on the exact binomial tail of detect/stats.
func ClopperPearson(k, n int, alpha float64) (lo, hi float64) {
	if n <= 0 || k < 0 || k > n {
		return math.NaN(), math.NaN()
	}
	target := math.Log(alpha / 2)
	if k > 0 {
		// P(X >= k | p) increases with p.
		lo = bisect(func(p float64) bool { return stats.LogBinomialTail(k, n, p) < target })
	}
	hi = 1
	if k < n {
		// P(X <= k | p) = 1 - P(X >= k+1 | p) decreases with p.
		hi = bisect(func(p float64) bool {
			upper := stats.LogBinomialTail(k+1, n, p)
			return log1mExp(upper) > target
		})
	}
	return lo, hi
}

// bisect returns the boundary in (0, 1) where below(p) turns from true to
// false, searching on a log scale below 1e-3 so that tiny rates keep their
// relative precision.
func bisect(below func(p float64) bool) float64 {
	lo, hi := 0.0, 1.0
	// Coarse search in log space to bracket small boundaries.
	for e := -1.0; e >= -300; e-- {
		p := math.Pow(10, e)
		if below(p) {
			lo = p
			break
		}
		hi = p
	}
	for i := 0; i < 200 && hi-lo > 1e-15*hi; i++ {
		mid := lo + (hi-lo)/2
		if lo > 0 && hi/lo > 4 {
			mid = math.Sqrt(lo * hi)
		}
		if below(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// log1mExp returns ln(1 - e^x) for x <= 0.
func log1mExp(x float64) float64 {
	if x > -math.Ln2 {
		return math.Log(-math.Expm1(x))
	}
	return math.Log1p(-math.Exp(x))
}

// quantile returns the q-quantile (0..1) of xs by the nearest-rank rule;
// NaN for an empty slice. xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// mean returns the arithmetic mean (NaN for none).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sortedCopy returns xs sorted ascending, leaving xs alone.
func sortedCopy(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}
