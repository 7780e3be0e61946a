package stats

import (
	"math"
	"slices"
	"strconv"
)

// KSUniform returns the Kolmogorov–Smirnov statistic D of samples against
// U(0,1) and its asymptotic p-value (Kolmogorov distribution with Stephens'
// small-sample correction). samples is not modified.
func KSUniform(samples []float64) (d, pValue float64) {
	n := len(samples)
	if n == 0 {
		return 0, 1
	}
	plus, minus := ksDistances(samples)
	d = max(plus, minus)
	sq := math.Sqrt(float64(n))
	return d, KolmogorovQ((sq + 0.12 + 0.11/sq) * d)
}

// ksDistances returns D+ = max_i (i/n - x_(i)) and D- = max_i (x_(i) -
// (i-1)/n) of samples against U(0,1) (0 for none); samples is not modified.
func ksDistances(samples []float64) (plus, minus float64) {
	x := slices.Clone(samples)
	slices.Sort(x)
	fn := float64(len(x))
	for i, v := range x {
		plus = max(plus, float64(i+1)/fn-v)
		minus = max(minus, v-float64(i)/fn)
	}
	return plus, minus
}

// KolmogorovQ returns P(K > lambda) for the Kolmogorov distribution:
// 2·Σ_{j>=1} (-1)^{j-1} exp(-2 j² λ²).
func KolmogorovQ(lambda float64) float64 {
	if lambda < 0.2 {
		return 1
	}
	sum, sign := 0.0, 1.0
	for j := 1; j <= 100; j++ {
		term := sign * math.Exp(-2*float64(j*j)*lambda*lambda)
		sum += term
		if math.Abs(term) < 1e-16*math.Abs(sum) {
			break
		}
		sign = -sign
	}
	return max(0, min(1, 2*sum))
}

// BinomialCountPlausible reports whether observing count successes in n
// trials is consistent with success probability p at two-sided level alpha
// (exact binomial test, alpha/2 in each tail).
func BinomialCountPlausible(count, n int, p, alpha float64) bool {
	upper := math.Exp(LogBinomialTail(count, n, p))      // P(X >= count)
	lower := -math.Expm1(LogBinomialTail(count+1, n, p)) // P(X <= count)
	return upper >= alpha/2 && lower >= alpha/2
}

// FormatLevel prints a significance level compactly (0.01, 1e-06).
func FormatLevel(a float64) string { return strconv.FormatFloat(a, 'g', -1, 64) }
