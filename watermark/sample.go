package watermark

import "math"

// stackCandidates is the largest candidate set whose weights live on the
// stack; larger sets (a full vocabulary) use block sums instead of
// allocating.
const stackCandidates = 512

// blockCount bounds the number of block sums kept on the stack.
const blockCount = 1024

// greenFunc reports whether candidate i (an index into the candidate set) is
// green. A nil greenFunc means no watermark.
type greenFunc func(i int) bool

// SampleLogitsUnmarked draws from candidates ids with logits exactly as
// KGW.SampleLogits does, but without any watermark. It is what a stack runs
// when the watermark is disabled, and the baseline the benchmarks compare to.
func SampleLogitsUnmarked(ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(logits) {
		return 0, ErrLengthMismatch
	}
	return drawToken(ids, logits, false, nil, 0, rng)
}

// SampleProbsUnmarked is SampleLogitsUnmarked for candidates given as
// probabilities (or non-negative weights), as KGW.SampleProbs takes them.
func SampleProbsUnmarked(ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(probs) {
		return 0, ErrLengthMismatch
	}
	return drawToken(ids, probs, true, nil, 0, rng)
}

// tokenAt returns the token ID of candidate i: ids[i], or i when ids is nil.
func tokenAt(ids []uint32, i int) uint32 {
	if ids == nil {
		return uint32(i)
	}
	return ids[i]
}

// drawToken samples candidate i with probability ∝ exp(logit_i + δ·green(i))
// (or p_i·e^{δ·green(i)} when isProb) using one uniform from rng, by inverse
// CDF in candidate order, and returns its token ID.
func drawToken(ids []uint32, vals []float32, isProb bool, green greenFunc, delta float64, rng Uniform) (uint32, error) {
	var i int
	var err error
	switch {
	case isProb:
		i, err = drawIndexProbs(vals, green, math.Exp(delta), rng)
	case len(vals) <= stackCandidates:
		i, err = drawIndexSmall(vals, green, delta, rng)
	default:
		i, err = drawIndexLarge(vals, green, delta, rng)
	}
	if err != nil {
		return 0, err
	}
	return tokenAt(ids, i), nil
}

// logit maps a candidate logit to float64, NaN to -Inf.
func logit(v float32) float64 {
	x := float64(v)
	if x != x {
		return math.Inf(-1)
	}
	return x
}

// bonusAt is δ for a green candidate, else 0.
func bonusAt(green greenFunc, delta float64, i int) float64 {
	if green != nil && green(i) {
		return delta
	}
	return 0
}

// pick returns the first index whose cumulative weight exceeds target, or
// the last positive weight when rounding leaves target at the very top.
// It is pickBy over a slice, written out because it is the hot path of
// every small candidate set.
func pick(w []float64, target float64) int {
	acc, last := 0.0, -1
	for i, x := range w {
		if x > 0 {
			acc += x
			last = i
			if acc > target {
				return i
			}
		}
	}
	return last
}

// pickBy is pick over the indices lo..hi-1 with weights computed by w, for
// candidate sets too large to keep their weights.
func pickBy(lo, hi int, w func(int) float64, target float64) int {
	acc, last := 0.0, -1
	for i := lo; i < hi; i++ {
		if x := w(i); x > 0 {
			acc += x
			last = i
			if acc > target {
				return i
			}
		}
	}
	return last
}

// drawIndexSmall keeps the biased weights of up to stackCandidates logits
// on the stack. +Inf logits take all the mass, weighted by e^{δ·green}.
func drawIndexSmall(vals []float32, green greenFunc, delta float64, rng Uniform) (int, error) {
	n := len(vals)
	var buf [stackCandidates]float64
	negInf := math.Inf(-1)
	maxFinite, maxInf := negInf, negInf
	for i := 0; i < n; i++ {
		b := bonusAt(green, delta, i)
		buf[i] = b
		l := logit(vals[i])
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
	total := 0.0
	for i := 0; i < n; i++ {
		l := logit(vals[i])
		var w float64
		switch {
		case !infMode:
			w = math.Exp(l + buf[i] - maxFinite)
		case math.IsInf(l, 1):
			w = math.Exp(buf[i] - maxInf)
		}
		buf[i] = w
		total += w
	}
	return pick(buf[:n], rng.Float64()*total), nil
}

// drawIndexLarge handles large candidate sets (a full vocabulary) with one
// pass of exponentials, rescaled online into at most blockCount block sums,
// then recomputes only the weights of the block the draw lands in.
func drawIndexLarge(vals []float32, green greenFunc, delta float64, rng Uniform) (int, error) {
	n := len(vals)
	size := max(256, (n+blockCount-1)/blockCount)
	blocks := (n + size - 1) / size
	var sum, top [blockCount]float64 // per block: Σ exp(x - top), top = block max
	negInf := math.Inf(-1)
	m := negInf
	for b := 0; b < blocks; b++ {
		s, bm := 0.0, negInf
		for i := b * size; i < min(n, (b+1)*size); i++ {
			l := logit(vals[i])
			if math.IsInf(l, 1) {
				return drawIndexInf(vals, green, delta, rng), nil
			}
			x := l + bonusAt(green, delta, i)
			switch {
			case x == negInf:
			case x > bm:
				s = s*math.Exp(bm-x) + 1
				bm = x
			default:
				s += math.Exp(x - bm)
			}
		}
		sum[b], top[b] = s, bm
		m = max(m, bm)
	}
	if m == negInf {
		return -1, ErrNoCandidates
	}
	total := 0.0
	for b := 0; b < blocks; b++ {
		if sum[b] > 0 {
			sum[b] *= math.Exp(top[b] - m)
			total += sum[b]
		}
	}
	target := rng.Float64() * total
	blk := pick(sum[:blocks], target)
	for b := 0; b < blk; b++ {
		target -= sum[b]
	}
	weight := func(i int) float64 { return math.Exp(logit(vals[i]) + bonusAt(green, delta, i) - m) }
	return pickBy(blk*size, min(n, (blk+1)*size), weight, target), nil
}

// drawIndexInf draws among the +Inf logits with weights e^{δ·green}.
func drawIndexInf(vals []float32, green greenFunc, delta float64, rng Uniform) int {
	w := func(i int) float64 {
		if math.IsInf(float64(vals[i]), 1) {
			return math.Exp(bonusAt(green, delta, i) - delta)
		}
		return 0
	}
	total := 0.0
	for i := range vals {
		total += w(i)
	}
	return pickBy(0, len(vals), w, rng.Float64()*total)
}

// drawIndexProbs samples ∝ p_i·e^{δ·green(i)} with the multiplier
// expDelta = e^δ. Negative and NaN weights count as 0; if any weight is
// +Inf, the +Inf candidates share all the mass, weighted by e^{δ·green}.
func drawIndexProbs(vals []float32, green greenFunc, expDelta float64, rng Uniform) (int, error) {
	n := len(vals)
	var buf [stackCandidates]float64
	cached := n <= stackCandidates
	infMode := false
	for _, v := range vals {
		if math.IsInf(float64(v), 1) {
			infMode = true
			break
		}
	}
	weight := func(i int) float64 {
		p := float64(vals[i])
		switch {
		case infMode && math.IsInf(p, 1):
			p = 1
		case infMode || !(p > 0):
			return 0
		}
		if green != nil && green(i) {
			p *= expDelta
		}
		return p
	}
	total := 0.0
	for i := 0; i < n; i++ {
		w := weight(i)
		if cached {
			buf[i] = w
		}
		total += w
	}
	if !(total > 0) {
		return -1, ErrNoCandidates
	}
	target := rng.Float64() * total
	if cached {
		return pick(buf[:n], target), nil
	}
	return pickBy(0, n, weight, target), nil
}
