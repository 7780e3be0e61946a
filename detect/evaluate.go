package detect

import (
	"math"
	"strconv"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/watermark"
)

// evaluator turns a tally into a Result under one null model. It caches the
// exact null distributions of payload slots by size, so it is not safe for
// concurrent use.
type evaluator struct {
	null   watermark.Null
	alpha  float64
	maxPMF map[int][]float64 // payload: MaxCountPMF(n, radix) by n
	pmfs   [][]float64
}

func newEvaluator(null watermark.Null, alpha float64) evaluator {
	return evaluator{null: null, alpha: alpha, maxPMF: map[int][]float64{}}
}

// Evaluate evaluates a tally under a scheme's parameters, as detection and
// the pooled test do: cfg's null model gives the distribution, so no key is
// needed (merging recorded tallies, verifying evidence). keyID and cfg's
// SPEC are recorded in the result; alpha 0 means DefaultAlpha.
func Evaluate(cfg watermark.Config, keyID string, t *Tally, alpha float64) Result {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	r := Result{Scheme: cfg.String(), KeyID: keyID, Alpha: alpha, Dedup: true}
	e := newEvaluator(cfg.Null(), alpha)
	e.evaluate(t, &r)
	return r
}

// evaluate fills r's statistics from a tally.
func (e *evaluator) evaluate(t *Tally, r *Result) {
	n := t.N
	r.Scored = n
	var lnP float64
	switch e.null.Kind {
	case watermark.BinomialNull:
		trials := n * e.null.Trials
		lnP = stats.LogBinomialTail(int(t.Sum), trials, e.null.P)
		r.Score, r.Z, r.Test = t.Sum, stats.BinomialZ(int(t.Sum), trials, e.null.P), TestBinomial
		if e.null.Trials == 1 {
			r.Green, r.Gamma = int(t.Sum), e.null.P
		} else if n > 0 {
			m := float64(e.null.Trials)
			r.MeanScore = t.Sum / float64(trials)
			r.WeightedMeanScore = t.Weighted / (float64(n) * m * (m + 1) / 2)
		}
	case watermark.GammaNull:
		shape := e.null.GammaShape(n)
		lnP = stats.LogGammaUpperTail(shape, t.Sum)
		if n == 0 {
			lnP = 0
		} else {
			r.Z, r.MeanScore = (t.Sum-shape)/math.Sqrt(shape), t.Sum/float64(n)
		}
		r.Score, r.Test = t.Sum, TestGamma
	case watermark.PayloadNull:
		lnP = e.payload(t, r)
	}
	r.Detected = lnP <= math.Log(e.alpha)
	r.TooShort = e.tooShort(n)
	r.PValue = math.Exp(lnP)
	r.Log10P = stats.Log10(lnP) + 0 // +0 turns -0 into 0
}

// tooShort reports whether no n observations could reach alpha: the
// smallest p-value n observations can give is P^(n·trials) (binomial;
// every trial a success), radix^(1-n) (payload: all n tokens in one slot,
// in one colour; k occupied slots give radix^(k-n)), and arbitrarily small
// for the Gamma test once n >= 1.
func (e *evaluator) tooShort(n int) bool {
	lnAlpha := math.Log(e.alpha)
	switch e.null.Kind {
	case watermark.BinomialNull:
		return float64(n*e.null.Trials)*math.Log(e.null.P) > lnAlpha
	case watermark.PayloadNull:
		return n == 0 || -float64(n-1)*math.Log(float64(e.null.Radix)) > lnAlpha
	default:
		return n == 0
	}
}

// payload decodes the payload, fills r's payload fields and returns the
// zero-bit ln p-value: the exact null tail of the best message's support
// S = Σ_slots max colour count while every slot fits the exact
// distribution; beyond, twice the smaller of the Bonferroni bound over all
// messages and the fold test's exact binomial p-value (FoldMatches), or
// the Bonferroni bound alone for a tally without fold counts.
func (e *evaluator) payload(t *Tally, r *Result) float64 {
	radix, slots := e.null.Radix, e.null.Slots
	bitsPer := 0
	for 1<<bitsPer < radix {
		bitsPer++
	}
	var value uint64
	support, exact := 0, true
	e.pmfs = e.pmfs[:0]
	r.Symbols = make([]Symbol, slots)
	for j := 0; j < slots; j++ {
		top, second, best, nj := -1, -1, 0, 0
		for c := 0; c < radix; c++ {
			v := t.Count(j, c)
			nj += v
			switch {
			case v > top:
				second, top, best = top, v, c
			case v > second:
				second = v
			}
		}
		value |= uint64(best) << (uint(j) * uint(bitsPer))
		support += top
		pmf := e.maxCountPMF(nj, radix)
		var lnSym float64
		if pmf != nil {
			e.pmfs = append(e.pmfs, pmf)
			lnSym = stats.LogTail(pmf, top)
		} else {
			exact = false
			lnSym = math.Min(0, math.Log(float64(radix))+stats.LogBinomialTail(top, nj, 1/float64(radix)))
		}
		if nj == 0 {
			lnSym = 0
		}
		r.Symbols[j] = Symbol{Value: best, Count: nj, Top: top, Second: max(second, 0), Log10P: stats.Log10(lnSym) + 0}
	}
	matches, trials := 0, 0
	if !exact && t.Split() {
		matches, trials = foldMatches(t, radix, slots)
	}
	lnP, bonferroni := PayloadFoldLnP(support, t.N, matches, trials, slots, radix, stats.LogBinomialTail)
	r.Test = TestPayloadBonferro
	if exact {
		if v := stats.LogTailOfSum(e.pmfs, support); !math.IsInf(v, -1) {
			lnP, r.Test = math.Min(v, bonferroni), TestPayloadExact
		}
	} else if trials > 0 {
		r.Test = TestPayloadFold
	}
	// The payload is claimed only where the text is detected too: the
	// payload p-value is the larger of the two, still a valid bound on
	// the chance of claiming a message without the key.
	bonferroni = math.Max(bonferroni, lnP)
	r.Score = float64(support)
	r.Gamma = 1 / float64(radix) // the null probability of a colour
	// Z is the normal quantile of the zero-bit p-value: the support is a
	// maximum, so its binomial z would look large on human text.
	defer func() { r.Z = stats.ZFromLogP(lnP) + 0 }()
	r.Payload = strconv.FormatUint(value, 16)
	pp, pl := math.Exp(bonferroni), stats.Log10(bonferroni)+0
	r.PayloadPValue, r.PayloadLog10P = &pp, &pl
	r.PayloadClaimed = bonferroni <= math.Log(e.alpha)
	return lnP
}

// FoldMatches returns the statistic of the payload fold test: matches
// out of trials, from per-fold colour counts, where the count of colour c
// of slot j among the tuples of fold f is
// counts[f*foldStride+j*slotStride+c]. Visiting the folds in order, each
// tuple of fold f ≥ 1 predicts that its colour is the most frequent one
// of its slot among the tuples of folds 0..f-1 (ties: the smallest
// colour); matches counts the correct predictions among the trials tuples
// of folds 1.. . Under the null a tuple's colour is uniform and
// independent of the earlier folds (and of the folds, which a keyed hash
// of the seed picks), so each prediction is right with probability exactly
// 1/radix given everything before it, and matches is exactly
// Binomial(trials, 1/radix) whatever the slot sizes: the test needs no
// correction for decoding and scales to any number of tuples.
func FoldMatches[T ~int | ~int32](counts []T, radix, slots, slotStride, foldStride int) (matches, trials int) {
	for j := 0; j < slots; j++ {
		var seen [maxRadix]int
		for f := 0; f < watermark.PayloadFolds; f++ {
			row := counts[f*foldStride+j*slotStride:][:radix]
			if f > 0 {
				best := 0
				for c := 1; c < radix; c++ {
					if seen[c] > seen[best] {
						best = c
					}
				}
				for c, v := range row {
					trials += int(v)
					if c == best {
						matches += int(v)
					}
				}
			}
			for c, v := range row {
				seen[c] += int(v)
			}
		}
	}
	return matches, trials
}

// PayloadFoldLnP returns the zero-bit payload test's ln p-value for
// slots too large for its exact law, and its Bonferroni bound over all
// messages: bonferroni = min(0, slots·log2(radix)·ln 2 + tail(support, n,
// 1/radix)) for the best message's support among n tuples, and lnP =
// min(0, min(bonferroni, tail(matches, trials, 1/radix)) + ln 2), twice
// the better of the two valid p-values, with the fold test's statistic
// (FoldMatches), or lnP = bonferroni when trials is 0. tail must return
// ln P(X ≥ k) for X ~ Binomial(n, p), or a lower bound on it:
// stats.LogBinomialTail gives the test's p-values, and as both results are
// nondecreasing in tail, a lower bound on the tail gives lower bounds on
// both (as the span scan's screen uses them).
func PayloadFoldLnP(support, n, matches, trials, slots, radix int, tail func(k, n int, p float64) float64) (lnP, bonferroni float64) {
	bitsPer := 0
	for 1<<bitsPer < radix {
		bitsPer++
	}
	bonferroni = math.Min(0, float64(slots)*float64(bitsPer)*math.Ln2+tail(support, n, 1/float64(radix)))
	if trials == 0 {
		return bonferroni, bonferroni
	}
	fold := tail(matches, trials, 1/float64(radix))
	return math.Min(0, math.Min(bonferroni, fold)+math.Ln2), bonferroni
}

// foldMatches is FoldMatches of t's fold counts (slots beyond the
// tally's have none).
func foldMatches(t *Tally, radix, slots int) (matches, trials int) {
	return FoldMatches(t.folds, min(radix, maxRadix), min(slots, t.foldSlots), maxRadix, t.foldSlots*maxRadix)
}

func (e *evaluator) maxCountPMF(n, radix int) []float64 {
	if p, ok := e.maxPMF[n]; ok {
		return p
	}
	p := stats.MaxCountPMF(n, radix)
	e.maxPMF[n] = p
	return p
}
