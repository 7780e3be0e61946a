package stats

import "math"

// MaxCountLimit is the largest number of balls MaxCountPMF accepts: beyond
// it the smallest probabilities leave the float64 range for radix 16, and
// the O(r·n³) cost grows large.
const MaxCountLimit = 200

// MaxCountPMF returns the distribution of the largest bin count when n balls
// fall independently and uniformly into r bins: pmf[k] = P(max = k) for
// k = 0..n. Every entry is a sum of positive terms (no cancellation), so
// tail probabilities are accurate however small. It returns nil if n is
// outside [0, MaxCountLimit] or r < 1.
func MaxCountPMF(n, r int) []float64 {
	if n < 0 || n > MaxCountLimit || r < 1 {
		return nil
	}
	pmf := make([]float64, n+1)
	if n == 0 {
		pmf[0] = 1
		return pmf
	}
	// binom[b][t][i]: P(Binomial(t, 1/b) = i), for b = 2..r.
	lf := make([]float64, n+1)
	for i := 1; i <= n; i++ {
		lf[i] = lf[i-1] + math.Log(float64(i))
	}
	binom := make([][][]float64, r+1)
	for b := 2; b <= r; b++ {
		lp, lq := -math.Log(float64(b)), math.Log1p(-1/float64(b))
		binom[b] = make([][]float64, n+1)
		for t := 0; t <= n; t++ {
			row := make([]float64, t+1)
			for i := 0; i <= t; i++ {
				row[i] = math.Exp(lf[t] - lf[i] - lf[t-i] + float64(i)*lp + float64(t-i)*lq)
			}
			binom[b][t] = row
		}
	}
	all := make([]float64, n+1)   // P(t balls in b bins all <= k)
	exact := make([]float64, n+1) // P(... and the max is exactly k)
	nextAll := make([]float64, n+1)
	nextExact := make([]float64, n+1)
	for k := (n + r - 1) / r; k <= n; k++ {
		// One bin: t balls, all <= k iff t <= k; max exactly k iff t == k.
		for t := 0; t <= n; t++ {
			all[t], exact[t] = 0, 0
			if t <= k {
				all[t] = 1
			}
			if t == k {
				exact[t] = 1
			}
		}
		for b := 2; b <= r; b++ {
			for t := 0; t <= n; t++ {
				row := binom[b][t]
				sa, se := 0.0, 0.0
				for i := 0; i <= min(k, t); i++ {
					sa += row[i] * all[t-i]
					if i < k {
						se += row[i] * exact[t-i]
					} else {
						se += row[i] * all[t-i]
					}
				}
				nextAll[t], nextExact[t] = sa, se
			}
			all, nextAll = nextAll, all
			exact, nextExact = nextExact, exact
		}
		pmf[k] = exact[n]
	}
	return pmf
}

// LogTailOfSum returns ln P(X_1 + ... + X_m >= s) for independent X_j with
// the given probability mass functions (pmf[k] = P(X_j = k)), by exact
// convolution. It returns -Inf if the tail underflows float64.
func LogTailOfSum(pmfs [][]float64, s int) float64 {
	dist := []float64{1}
	for _, p := range pmfs {
		next := make([]float64, len(dist)+len(p)-1)
		for i, a := range dist {
			if a == 0 {
				continue
			}
			for k, b := range p {
				next[i+k] += a * b
			}
		}
		dist = next
	}
	if s <= 0 {
		return 0
	}
	tail := 0.0
	for k := len(dist) - 1; k >= s; k-- {
		tail += dist[k]
	}
	return math.Log(min(tail, 1))
}

// LogTail returns ln P(X >= s) for one pmf.
func LogTail(pmf []float64, s int) float64 { return LogTailOfSum([][]float64{pmf}, s) }
