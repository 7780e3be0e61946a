// Package stats holds the exact tail probabilities and calibration tests that
// detection and the benchmarks rely on. Every tail is computed in log space,
// so results stay finite and accurate far below the float64 range.
package stats

import "math"

const (
	ln2Pi       = 1.8378770664093454835606594728112352797227949472755668 // ln(2π)
	lnSqrt2Pi   = 0.9189385332046727417803297364056176398613974736377834 // ln(√(2π))
	ln10        = 2.3025850929940456840179914546843642076011014886287729
	cfEpsilon   = 1e-16
	cfTiny      = 1e-300
	cfMaxRounds = 1 << 22
)

// LogBinomialTail returns ln P(X >= k) for X ~ Binomial(n, p), exactly (to
// about 1e-13 relative) and without underflow: it is finite whenever the
// probability is positive, e.g. about -1.386e6 for k = n = 10^6, p = 0.25.
//
// It evaluates the regularized incomplete beta function I_p(k, n-k+1) by its
// continued fraction, with the leading factor written as a binomial pmf
// computed by Loader's saddle-point method (no cancellation for large n).
func LogBinomialTail(k, n int, p float64) float64 {
	switch {
	case k <= 0:
		return 0
	case k > n || p <= 0:
		return math.Inf(-1)
	case p >= 1:
		return 0
	}
	a, b := float64(k), float64(n-k+1)
	if p < (a+1)/(a+b+2) {
		// I_p(a,b) = pmf(k)·(1-p)·cf(a,b,p)
		return LogBinomialPMF(k, n, p) + math.Log1p(-p) + math.Log(betaCF(a, b, p))
	}
	// 1 - I_{1-p}(b,a), where I_{1-p}(b,a) = P(X <= k-1) = pmf(k-1)·p·cf(b,a,1-p).
	logLower := LogBinomialPMF(k-1, n, p) + math.Log(p) + math.Log(betaCF(b, a, 1-p))
	return log1mExp(logLower)
}

// LogBinomialPMF returns ln P(X = k) for X ~ Binomial(n, p), by Loader's
// saddle-point expansion (Loader 2000, "Fast and accurate computation of
// binomial probabilities"), accurate to near machine precision for any n.
func LogBinomialPMF(k, n int, p float64) float64 {
	if k < 0 || k > n {
		return math.Inf(-1)
	}
	q := 1 - p
	switch {
	case p <= 0:
		if k == 0 {
			return 0
		}
		return math.Inf(-1)
	case p >= 1:
		if k == n {
			return 0
		}
		return math.Inf(-1)
	case k == 0:
		return float64(n) * math.Log1p(-p)
	case k == n:
		return float64(n) * math.Log(p)
	}
	x, fn := float64(k), float64(n)
	lc := stirlingError(fn) - stirlingError(x) - stirlingError(fn-x) -
		deviance(x, fn*p) - deviance(fn-x, fn*q)
	lf := ln2Pi + math.Log(x) + math.Log1p(-x/fn)
	return lc - 0.5*lf
}

// stirlingError returns ln(n!) - ln(√(2πn)·(n/e)^n) for n >= 1.
func stirlingError(n float64) float64 {
	const (
		s0 = 1.0 / 12
		s1 = 1.0 / 360
		s2 = 1.0 / 1260
		s3 = 1.0 / 1680
		s4 = 1.0 / 1188
	)
	if n <= 15 {
		lg, _ := math.Lgamma(n + 1)
		return lg - (n+0.5)*math.Log(n) + n - lnSqrt2Pi
	}
	nn := n * n
	switch {
	case n > 500:
		return (s0 - s1/nn) / n
	case n > 80:
		return (s0 - (s1-s2/nn)/nn) / n
	case n > 35:
		return (s0 - (s1-(s2-s3/nn)/nn)/nn) / n
	default:
		return (s0 - (s1-(s2-(s3-s4/nn)/nn)/nn)/nn) / n
	}
}

// deviance returns x·ln(x/m) + m - x without cancellation when x ≈ m.
func deviance(x, m float64) float64 {
	if math.Abs(x-m) < 0.1*(x+m) {
		v := (x - m) / (x + m)
		s := (x - m) * v
		ej := 2 * x * v
		v2 := v * v
		for j := 1; j < 1000; j++ {
			ej *= v2
			s1 := s + ej/float64(2*j+1)
			if s1 == s {
				return s
			}
			s = s1
		}
		return s
	}
	return x*math.Log(x/m) + m - x
}

// betaCF evaluates the continued fraction of the incomplete beta function
// (modified Lentz), which converges fast for x < (a+1)/(a+b+2).
func betaCF(a, b, x float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 / awayFromZero(1-qab*x/qap)
	h := d
	for m := 1; m <= cfMaxRounds; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 / awayFromZero(1+aa*d)
		c = awayFromZero(1 + aa/c)
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 / awayFromZero(1+aa*d)
		c = awayFromZero(1 + aa/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < cfEpsilon {
			break
		}
	}
	return h
}

// awayFromZero replaces a value too close to 0 by cfTiny, as the modified
// Lentz method requires to avoid dividing by zero.
func awayFromZero(x float64) float64 {
	if math.Abs(x) < cfTiny {
		return cfTiny
	}
	return x
}

// log1mExp returns ln(1 - e^x) for x <= 0, accurately at both ends.
func log1mExp(x float64) float64 {
	if x > -math.Ln2 {
		return math.Log(-math.Expm1(x))
	}
	return math.Log1p(-math.Exp(x))
}

// Log10 converts a natural logarithm to base 10.
func Log10(lnP float64) float64 { return lnP / ln10 }

// BinomialZ returns the familiar z-score (k - np)/√(np(1-p)). It is reported
// for comparison only; p-values never use the normal approximation.
func BinomialZ(k, n int, p float64) float64 {
	if n == 0 {
		return 0
	}
	fn := float64(n)
	return (float64(k) - fn*p) / math.Sqrt(fn*p*(1-p))
}

// RandomizedBinomialP returns the randomized p-value P(X > k) + u·P(X = k)
// for X ~ Binomial(n, p) and u uniform in [0,1). Under the null it is exactly
// U(0,1) distributed, unlike the (conservative, discrete) p-value P(X >= k),
// which makes it the right input for a uniformity test such as KS.
func RandomizedBinomialP(k, n int, p, u float64) float64 {
	return math.Exp(LogBinomialTail(k+1, n, p)) + u*math.Exp(LogBinomialPMF(k, n, p))
}

// ZFromLogP returns the standard normal quantile z with P(Z >= z) = p for
// a p-value given as its natural log. It starts from sqrt(2)·erfcinv(2p)
// (or, for tiny p, the asymptotic inverse of the normal tail) and refines
// it with Newton steps on ln Q(z) = ln(erfc(z/√2)/2), which math.Erfc gives
// to full relative precision up to z ≈ 37; beyond, ln Q comes from the
// asymptotic series -z²/2 - ln z - ln(2π)/2 + ln(1 - 1/z² + 3/z⁴ - 15/z⁶),
// whose error is below 1e-9 there. It is always finite, so it can go into
// JSON: p = 1 (and any p so close to 1 that the quantile overflows) gives
// -8.2.
func ZFromLogP(lnP float64) float64 {
	if lnP > 0 || math.IsNaN(lnP) {
		lnP = 0
	}
	var z float64
	if lnP > -20 {
		z = math.Sqrt2 * math.Erfcinv(2*math.Exp(lnP))
		if math.IsInf(z, 0) || math.IsNaN(z) {
			return -8.2
		}
	} else {
		t := -2 * lnP
		z = math.Sqrt(t - math.Log(t) - math.Log(2*math.Pi))
	}
	for i := 0; i < 3; i++ {
		lnQ, slope := logNormalTail(z)
		if slope == 0 || math.IsInf(lnQ, 0) {
			break
		}
		z -= (lnQ - lnP) / slope
	}
	return z
}

// logNormalTail returns ln P(Z >= z) for a standard normal Z and its
// derivative in z.
func logNormalTail(z float64) (lnQ, slope float64) {
	if z < 37 {
		lnQ = math.Log(0.5 * math.Erfc(z/math.Sqrt2))
		return lnQ, -math.Exp(-z*z/2-lnQ) / math.Sqrt(2*math.Pi)
	}
	z2 := z * z
	lnQ = -z2/2 - math.Log(z) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1/z2+3/(z2*z2)-15/(z2*z2*z2))
	return lnQ, -(z + 1/z)
}
