package watermark

import "math"

// stackCandidates is the largest candidate set whose intermediate weights
// live on the stack; larger sets recompute them instead of allocating.
const stackCandidates = 512

// SampleLogitsUnmarked draws from candidates ids with logits exactly as
// KGW.SampleLogits does, but without any watermark. It is what a stack runs
// when the watermark is disabled, and the baseline the benchmarks compare to.
func SampleLogitsUnmarked(ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(logits) {
		return 0, ErrLengthMismatch
	}
	return drawToken(ids, logits, false, noBonus, rng)
}

func noBonus(int) float64 { return 0 }

// tokenAt returns the token ID of candidate i: ids[i], or i when ids is nil.
func tokenAt(ids []uint32, i int) uint32 {
	if ids == nil {
		return uint32(i)
	}
	return ids[i]
}

// logitOf maps a candidate value to a log-weight: logits pass through (NaN
// becomes -Inf); probabilities become their logarithm (<= 0 or NaN: -Inf).
func logitOf(v float32, isProb bool) float64 {
	x := float64(v)
	if isProb {
		if !(x > 0) {
			return math.Inf(-1)
		}
		return math.Log(x)
	}
	if x != x {
		return math.Inf(-1)
	}
	return x
}

// drawToken samples candidate i with probability ∝ exp(logit_i + bonus(i))
// using one uniform from rng (inverse CDF in candidate order), and returns its
// token ID. +Inf logits take all the mass, weighted by exp(bonus).
func drawToken(ids []uint32, vals []float32, isProb bool, bonus func(int) float64, rng Uniform) (uint32, error) {
	i, err := drawIndex(vals, isProb, bonus, rng)
	if err != nil {
		return 0, err
	}
	return tokenAt(ids, i), nil
}

func drawIndex(vals []float32, isProb bool, bonus func(int) float64, rng Uniform) (int, error) {
	n := len(vals)
	var buf [stackCandidates]float64
	cached := n <= stackCandidates
	negInf := math.Inf(-1)
	maxFinite, maxInf := negInf, negInf
	for i := 0; i < n; i++ {
		b := bonus(i)
		if cached {
			buf[i] = b
		}
		l := logitOf(vals[i], isProb)
		if math.IsInf(l, 1) {
			maxInf = max(maxInf, b)
		} else if l+b > maxFinite {
			maxFinite = l + b
		}
	}
	infMode := maxInf > negInf
	if !infMode && maxFinite == negInf {
		return -1, ErrNoCandidates
	}
	weight := func(i int, b float64) float64 {
		l := logitOf(vals[i], isProb)
		if infMode {
			if math.IsInf(l, 1) {
				return math.Exp(b - maxInf)
			}
			return 0
		}
		return math.Exp(l + b - maxFinite)
	}
	total := 0.0
	for i := 0; i < n; i++ {
		var w float64
		if cached {
			w = weight(i, buf[i])
			buf[i] = w
		} else {
			w = weight(i, bonus(i))
		}
		total += w
	}
	target := rng.Float64() * total
	acc, last := 0.0, -1
	for i := 0; i < n; i++ {
		var w float64
		if cached {
			w = buf[i]
		} else {
			w = weight(i, bonus(i))
		}
		if w > 0 {
			acc += w
			last = i
			if acc > target {
				return i, nil
			}
		}
	}
	return last, nil // rounding left target at the very top
}
