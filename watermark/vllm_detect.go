package watermark

import (
	"math"

	"github.com/tracemark/tracemark/detect/stats"
)

// vllmPositions calls f for each position vLLM's detector scores: every
// token, with the context of the h tokens before it padded on the left with
// -1, skipping a position whose context (the h entries) was seen before.
// It returns the number of positions scored. seen is an empty set for
// tokens (ctxSet.reset).
func vllmPositions(seen *ctxSet, tokens []uint32, h int, f func(ctx []int64, t uint32)) int {
	ctx := &seen.ctx // f's argument escapes: a buffer of the pooled set
	n := 0
	var hs [ctxBatch]uint64
	for i, t := range tokens {
		if i%ctxBatch == 0 {
			seen.warm(i, hs[:min(ctxBatch, len(tokens)-i)])
		}
		if !seen.add(i, hs[i%ctxBatch]) {
			continue
		}
		for j := 0; j < h; j++ {
			ctx[j] = seen.entry(i, j)
		}
		f(ctx[:h], t)
		n++
	}
	return n
}

// vllmGammaSurvival is vLLM's Gamma(shape, 1) survival for an integer
// shape, e^-x Σ_{k<shape} x^k/k! clamped to [0, 1]. vLLM sums the shape
// terms in log space, one log and one exp each, which costs more than the
// rest of its detector for long texts; the sum is Q(shape, x), the
// regularized upper incomplete gamma function, so this evaluates Q
// directly (stats.LogGammaUpperTail) for large shapes and sums the terms
// as vLLM does for small ones. The two agree within the vectors' 1e-9
// relative tolerance (TestVLLMGammaSurvivalDirect); for long texts the
// direct value is the more accurate of the two.
func vllmGammaSurvival(x float64, shape int) float64 {
	if shape <= 0 || x <= 0 {
		return 1
	}
	if shape <= vllmGammaSumShapes {
		return vllmGammaSurvivalSum(x, shape)
	}
	return math.Min(1, math.Exp(stats.LogGammaUpperTail(float64(shape), x)))
}

// vllmGammaSumShapes is the largest shape vllmGammaSurvival sums term by
// term.
const vllmGammaSumShapes = 64

// vllmGammaSurvivalSum is vLLM's _gamma_survival_integer_shape as vLLM
// computes it: the terms summed in log space from the largest.
func vllmGammaSurvivalSum(x float64, shape int) float64 {
	if shape <= 0 || x <= 0 {
		return 1
	}
	lx := math.Log(x)
	term, maxTerm := 0.0, 0.0
	for k := 1; k < shape; k++ {
		term += lx - math.Log(float64(k))
		maxTerm = math.Max(maxTerm, term)
	}
	sum, term := math.Exp(-maxTerm), 0.0
	for k := 1; k < shape; k++ {
		term += lx - math.Log(float64(k))
		sum += math.Exp(term - maxTerm)
	}
	return math.Min(1, math.Exp(math.Min(0, -x+maxTerm+math.Log(sum))))
}

// EngineDetect is vLLM's GumbelWatermarkDetector result (dedup on).
func (g *VLLMGumbel) EngineDetect(tokens []uint32) EngineDetection {
	var score float64
	var n int
	seen := g.sets.get(tokens, g.cfg.H)
	defer g.sets.put(seen)
	if g.u.prf == VLLMPhilox {
		score, n = philoxEngineGumbel(seen, tokens, g.cfg.H, g.u.key, nil, 0)
	} else {
		var st vllmCtx
		defer g.u.release(&st)
		n = vllmPositions(seen, tokens, g.cfg.H, func(ctx []int64, t uint32) {
			g.u.prepare(&st, ctx)
			score += exponentialScore(vllmUniform(g.u.word(&st, t)))
		})
	}
	r := EngineDetection{Engine: "vllm", Algorithm: "gumbel", PValue: 1, NumScoredTokens: n}
	if n > 0 {
		r.Score, r.PValue = score, vllmGammaSurvival(score, n)
	}
	return r
}

// EngineDetect is vLLM's DualKeyGumbelWatermarkDetector result: the
// per-token score (1-alpha)·s_A + alpha·s_B, and a Gamma tail matched to
// its mean and variance (shape n/v, scale v, v = (1-alpha)^2 + alpha^2).
func (g *VLLMDualGumbel) EngineDetect(tokens []uint32) EngineDetection {
	alpha := g.cfg.Alpha
	var score float64
	var n int
	seen := g.sets.get(tokens, g.cfg.H)
	defer g.sets.put(seen)
	if g.a.prf == VLLMPhilox {
		score, n = philoxEngineGumbel(seen, tokens, g.cfg.H, g.a.key, &g.b.key, alpha)
	} else {
		var sa, sb vllmCtx
		defer g.a.release(&sa)
		defer g.b.release(&sb)
		n = vllmPositions(seen, tokens, g.cfg.H, func(ctx []int64, t uint32) {
			g.a.prepare(&sa, ctx)
			g.b.prepare(&sb, ctx)
			score += exponentialScore(vllmUniform(g.a.word(&sa, t)))*(1-alpha) + exponentialScore(vllmUniform(g.b.word(&sb, t)))*alpha
		})
	}
	r := EngineDetection{Engine: "vllm", Algorithm: "dual_key_gumbel", PValue: 1, NumScoredTokens: n}
	if n == 0 {
		return r
	}
	r.Score = score
	v := (1-alpha)*(1-alpha) + alpha*alpha
	if alpha == 0 || alpha == 0.5 || alpha == 1 {
		r.PValue = vllmGammaSurvival(score/v, int(math.RoundToEven(float64(n)/v)))
	} else {
		r.PValue = math.Exp(stats.LogGammaUpperTail(float64(n)/v, score/v))
	}
	return r
}

// EngineDetect is vLLM's SBWWatermarkDetector result: the green count and
// the one-sided normal tail of its z-score. Its lefthash rule sums the
// hashed context tokens, where vLLM's sampler sums the raw ones.
func (s *VLLMSBW) EngineDetect(tokens []uint32) EngineDetection {
	seen := s.sets.get(tokens, s.cfg.H)
	defer s.sets.put(seen)
	var blk sbwBlock
	var pos [philoxBatchN]int
	w, n := 0, 0
	for i0 := 0; i0 < len(tokens); i0 += philoxBatchN {
		kept := seen.keep(i0, min(i0+philoxBatchN, len(tokens)), pos[:0])
		n += len(kept)
		w += blk.green(s, tokens, i0, kept, true, nil)
	}
	r := EngineDetection{Engine: "vllm", Algorithm: "sbw", PValue: 1, NumScoredTokens: n}
	if n == 0 {
		return r
	}
	r.Score = float64(w)
	g := s.cfg.Gamma
	z := (float64(w) - float64(n)*g) / math.Sqrt(float64(n)*g*(1-g))
	r.PValue = 0.5 * math.Erfc(z/math.Sqrt2)
	return r
}
