package stats

import (
	"math"
	"testing"
)

// bruteMaxCount enumerates all r^n outcomes.
func bruteMaxCount(n, r int) []float64 {
	pmf := make([]float64, n+1)
	counts := make([]int, r)
	var rec func(ball int)
	total := math.Pow(float64(r), float64(n))
	rec = func(ball int) {
		if ball == n {
			m := 0
			for _, c := range counts {
				m = max(m, c)
			}
			pmf[m] += 1 / total
			return
		}
		for b := 0; b < r; b++ {
			counts[b]++
			rec(ball + 1)
			counts[b]--
		}
	}
	rec(0)
	return pmf
}

func TestMaxCountPMFMatchesEnumeration(t *testing.T) {
	for _, c := range [][2]int{{1, 4}, {2, 2}, {5, 4}, {7, 3}, {9, 2}, {6, 8}, {8, 4}, {0, 4}} {
		got, want := MaxCountPMF(c[0], c[1]), bruteMaxCount(c[0], c[1])
		for k := range want {
			if math.Abs(got[k]-want[k]) > 1e-12 {
				t.Fatalf("n=%d r=%d: P(max=%d) = %v, enumeration %v", c[0], c[1], k, got[k], want[k])
			}
		}
	}
}

func TestMaxCountPMFTails(t *testing.T) {
	// All n balls in one bin: r · r^-n = r^(1-n), far below 1e-100.
	n, r := 200, 4
	pmf := MaxCountPMF(n, r)
	want := float64(1-n) * math.Log(float64(r))
	if got := math.Log(pmf[n]); math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("ln P(max=%d) = %v, want %v", n, got, want)
	}
	sum := 0.0
	for _, p := range pmf {
		sum += p
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("pmf sums to %v", sum)
	}
	if MaxCountPMF(MaxCountLimit+1, 4) != nil {
		t.Error("n above the limit accepted")
	}
}

func TestLogTailOfSum(t *testing.T) {
	// Two fair coins and a die-like pmf: P(X1+X2 >= 2) = 1/4.
	coin := []float64{0.5, 0.5}
	if got := math.Exp(LogTailOfSum([][]float64{coin, coin}, 2)); math.Abs(got-0.25) > 1e-15 {
		t.Errorf("got %v", got)
	}
	// The sum of n Bernoulli(p) pmfs is Binomial(n, p).
	p := []float64{0.75, 0.25}
	pmfs := make([][]float64, 30)
	for i := range pmfs {
		pmfs[i] = p
	}
	for _, s := range []int{0, 5, 12, 30} {
		if got, want := LogTailOfSum(pmfs, s), LogBinomialTail(s, 30, 0.25); math.Abs(got-want) > 1e-10*math.Max(1, math.Abs(want)) {
			t.Errorf("s=%d: %v, binomial %v", s, got, want)
		}
	}
}
