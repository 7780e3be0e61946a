package benchmarks

import (
	"math"
	"slices"

	"github.com/tracemark/tracemark/detect/stats"
	"gonum.org/v1/gonum/stat"
)

// clopperPearson is stats.ClopperPearson: the exact two-sided interval
// of level 1-alpha for k successes in n trials.
func clopperPearson(k, n int, alpha float64) (lo, hi float64) {
	return stats.ClopperPearson(k, n, alpha)
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
