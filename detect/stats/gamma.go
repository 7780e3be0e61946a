package stats

import "math"

// LogGammaUpperTail returns ln Q(a, x), the log of the regularized upper
// incomplete gamma function Γ(a, x)/Γ(a) = P(G >= x) for G ~ Gamma(a, 1),
// for a > 0 and x >= 0. It stays finite far into the tail.
func LogGammaUpperTail(a, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case math.IsInf(x, 1):
		return math.Inf(-1)
	}
	lg, _ := math.Lgamma(a)
	logPrefix := a*math.Log(x) - x - lg // ln(x^a e^-x / Γ(a))
	if x < a+1 {
		// Series for the lower tail P(a,x) = prefix/a · Σ x^n/((a+1)…(a+n)).
		sum, term := 1.0, 1.0
		for n := 1; n < cfMaxRounds; n++ {
			term *= x / (a + float64(n))
			sum += term
			if term < sum*cfEpsilon {
				break
			}
		}
		return log1mExp(logPrefix + math.Log(sum/a))
	}
	// Continued fraction for Q(a,x) (modified Lentz).
	b := x + 1 - a
	c := 1 / cfTiny
	d := 1 / b
	h := d
	for i := 1; i < cfMaxRounds; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = 1 / awayFromZero(an*d+b)
		c = awayFromZero(b + an/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < cfEpsilon {
			break
		}
	}
	return logPrefix + math.Log(h)
}

// ChiSquareSurvival returns P(χ²_df >= x).
func ChiSquareSurvival(x float64, df int) float64 {
	return math.Exp(LogGammaUpperTail(float64(df)/2, x/2))
}
