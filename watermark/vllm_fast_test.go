package watermark

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// slowPhiloxGumbel is the generic (per-position prepare/word) path the
// fast one replaces, with vLLM's own -log1p(-u).
func slowPhiloxGumbel(tokens []uint32, h int, a uint64, b *uint64) []Observation {
	ua := newVLLMUniforms(a, VLLMPhilox)
	var buf [MaxContextWidth]int64
	var sa, sb vllmCtx
	var dst []Observation
	for i := h; i < len(tokens); i++ {
		c := tokensCtx(&buf, tokens[i-h:i])
		ua.prepare(&sa, c)
		t := tokens[i]
		s := -math.Log1p(-float64(vllmUniform(ua.word(&sa, t))))
		if b != nil {
			ub := newVLLMUniforms(*b, VLLMPhilox)
			ub.prepare(&sb, c)
			s += -math.Log1p(-float64(vllmUniform(ub.word(&sb, t))))
		}
		dst = append(dst, Observation{Tuple: Tuple{ua.seed(&sa), t}, Score: s})
	}
	return dst
}

// slowVLLMPositions is vLLM's _prepare_inputs dedup written plainly: a
// map of padded contexts.
func slowVLLMPositions(tokens []uint32, h int) []int {
	seen := map[[MaxContextWidth]int64]bool{}
	var kept []int
	for i := range tokens {
		var c [MaxContextWidth]int64
		for j := 0; j < h; j++ {
			c[j] = -1
			if p := i - h + j; p >= 0 {
				c[j] = int64(tokens[p])
			}
		}
		if !seen[c] {
			seen[c] = true
			kept = append(kept, i)
		}
	}
	return kept
}

func checkFastPaths(t *testing.T, tokens []uint32, h int, a, b uint64) {
	t.Helper()
	for _, bp := range []*uint64{nil, &b} {
		fast := appendPhiloxGumbel(nil, tokens, h, a, bp)
		slow := slowPhiloxGumbel(tokens, h, a, bp)
		if len(fast) != len(slow) {
			t.Fatalf("h=%d: %d observations, want %d", h, len(fast), len(slow))
		}
		for i := range fast {
			if fast[i].Tuple != slow[i].Tuple || math.Abs(fast[i].Score-slow[i].Score) > 7e-16*slow[i].Score+1e-300 {
				t.Fatalf("h=%d position %d: %+v, want %+v", h, i+h, fast[i], slow[i])
			}
		}
	}
	for _, bp := range []*uint64{nil, &b} {
		ua, ub := newVLLMUniforms(a, VLLMPhilox), newVLLMUniforms(b, VLLMPhilox)
		var sa, sb vllmCtx
		want := 0.0
		wn := vllmPositions(newCtxSet(tokens, h), tokens, h, func(ctx []int64, tok uint32) {
			ua.prepare(&sa, ctx)
			s := -math.Log1p(-float64(vllmUniform(ua.word(&sa, tok))))
			if bp != nil {
				ub.prepare(&sb, ctx)
				s = s*0.7 + 0.3*-math.Log1p(-float64(vllmUniform(ub.word(&sb, tok))))
			}
			want += s
		})
		got, gn := philoxEngineGumbel(newCtxSet(tokens, h), tokens, h, a, bp, 0.3)
		if gn != wn || math.Abs(got-want) > 1e-12*want {
			t.Fatalf("h=%d dual=%v: engine score %v over %d, generic %v over %d", h, bp != nil, got, gn, want, wn)
		}
	}
	var kept []int
	n := vllmPositions(newCtxSet(tokens, h), tokens, h, func(ctx []int64, tok uint32) { kept = append(kept, len(kept)) })
	want := slowVLLMPositions(tokens, h)
	if n != len(want) {
		t.Fatalf("h=%d: vLLM dedup kept %d positions, want %d", h, n, len(want))
	}
	// the kept positions themselves: rerun collecting indices
	var got []int
	seen := newCtxSet(tokens, h)
	for i := range tokens {
		if seen.add(i, seen.hash(i)) {
			got = append(got, i)
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("h=%d: kept position %d is %d, want %d", h, i, got[i], want[i])
		}
	}
}

// TestVLLMFastPathsMatch: the Philox Gumbel fast path gives the generic
// path's tuples and scores (to 3 ulp: negLog's ln(1-u) for log1p(-u)), and the
// context dedup keeps the positions a map of padded contexts keeps, for
// context widths across the 4-word block boundary and repetitive text.
func TestVLLMFastPathsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	for _, h := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, MaxContextWidth} {
		for _, vocab := range []int{3, 50, 1<<32 - 1} {
			tokens := make([]uint32, 600)
			for i := range tokens {
				tokens[i] = uint32(rng.Int64N(int64(vocab)))
			}
			checkFastPaths(t, tokens, h, rng.Uint64(), rng.Uint64())
		}
	}
}

// FuzzVLLMFastPaths checks the fast paths against the generic ones on
// arbitrary token sequences.
func FuzzVLLMFastPaths(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0}, uint8(4), uint64(42))
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0}, uint8(1), uint64(0))
	f.Add([]byte{}, uint8(9), uint64(1<<63))
	f.Fuzz(func(t *testing.T, raw []byte, hb uint8, key uint64) {
		h := 1 + int(hb)%MaxContextWidth
		tokens := make([]uint32, len(raw)/2)
		for i := range tokens {
			tokens[i] = uint32(raw[2*i]) | uint32(raw[2*i+1]&3)<<8
			if raw[2*i+1] == 255 {
				tokens[i] = 0xFFFFFFFF
			}
		}
		checkFastPaths(t, tokens, h, key, key^0x5555)
	})
}

// TestVLLMGammaSurvivalDirect: the direct Q(shape, x) that
// vllmGammaSurvival uses for large shapes agrees with vLLM's term-by-term
// sum to 1e-9 relative (the vectors' tolerance) wherever the sum is a
// normal float64, from the bulk to deep in the tail. The sum's own
// rounding grows with the shape: at shape 20000, x = n + sqrt(n), mpmath
// gives Q = 0.158653247595036845; the direct value is off by 5e-11
// relative, vLLM's sum by 1.2e-10.
func TestVLLMGammaSurvivalDirect(t *testing.T) {
	worst := 0.0
	for _, n := range []int{65, 100, 257, 1000, 4096, 20000} {
		for _, z := range []float64{-3, -1, 0, 0.5, 1, 2, 4, 8, 16, 30} {
			x := float64(n) + z*math.Sqrt(float64(n))
			if x <= 0 {
				continue
			}
			want := vllmGammaSurvivalSum(x, n)
			got := vllmGammaSurvival(x, n)
			if want < 1e-300 {
				if got > 1e-290 {
					t.Errorf("n=%d x=%v: %v, vLLM's sum %v", n, x, got, want)
				}
				continue
			}
			d := math.Abs(got-want) / want
			worst = math.Max(worst, d)
			if d > 1e-9 {
				t.Errorf("n=%d x=%v: %v, vLLM's sum %v (rel %.2g)", n, x, got, want, d)
			}
		}
	}
	t.Logf("worst relative difference %.2g", worst)
}

// checkSBWFastPaths compares SBW's block paths (AppendObservations and
// EngineDetect through sbwBlock and the vector PRF) with the per-position
// ones they replace (prepare, seedOf, green).
func checkSBWFastPaths(t *testing.T, tokens []uint32, h int, key uint64, self bool, gamma float64) {
	t.Helper()
	cfg := VLLMSBWConfig{Seeding: SBWLeftHash, Gamma: gamma, Delta: 2, H: h}
	if self {
		cfg.Seeding = SBWSelfHash
	}
	s := &VLLMSBW{cfg: cfg, key: int64(key), threshold: sbwThreshold(gamma), self: self}
	var buf [MaxContextWidth]int64
	var st sbwCtx
	got := s.AppendObservations(nil, tokens)
	if want := max(0, len(tokens)-h); len(got) != want {
		t.Fatalf("%s: %d observations, want %d", cfg, len(got), want)
	}
	for i := h; i < len(tokens); i++ {
		s.prepare(&st, tokensCtx(&buf, tokens[i-h:i]), false)
		tok := tokens[i]
		want := Observation{Tuple: Tuple{uint64(s.seedOf(&st, tok)), tok}}
		if s.green(&st, tok) {
			want.Score = 1
		}
		if got[i-h] != want {
			t.Fatalf("%s position %d: %+v, want %+v", cfg, i, got[i-h], want)
		}
	}
	w := 0
	n := vllmPositions(newCtxSet(tokens, h), tokens, h, func(ctx []int64, tok uint32) {
		s.prepare(&st, ctx, true)
		if s.green(&st, tok) {
			w++
		}
	})
	e := s.EngineDetect(tokens)
	if e.NumScoredTokens != n || (n > 0 && e.Score != float64(w)) {
		t.Fatalf("%s: engine %d green of %d, per position %d of %d", cfg, int(e.Score), e.NumScoredTokens, w, n)
	}
}

// TestSBWFastPathsMatch: SBW's block paths give the per-position paths'
// seeds, green tests and engine counts for both seedings, context widths
// across the block boundary, padding and repetitive text, over several
// blocks.
func TestSBWFastPathsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	for _, h := range []int{1, 2, 3, 4, 5, 9, MaxContextWidth} {
		for _, vocab := range []int{3, 50, 1<<32 - 1} {
			for _, n := range []int{0, 1, h, 127, 129, 700} {
				tokens := make([]uint32, n)
				for i := range tokens {
					tokens[i] = uint32(rng.Int64N(int64(vocab)))
				}
				checkSBWFastPaths(t, tokens, h, rng.Uint64(), true, 0.5)
				checkSBWFastPaths(t, tokens, h, rng.Uint64(), false, 0.25)
			}
		}
	}
}

// FuzzSBWFastPaths checks SBW's block paths against the per-position ones
// on arbitrary token sequences.
func FuzzSBWFastPaths(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0}, uint8(4), uint64(42), true)
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0}, uint8(1), uint64(1<<63), false)
	f.Fuzz(func(t *testing.T, raw []byte, hb uint8, key uint64, self bool) {
		h := 1 + int(hb)%MaxContextWidth
		tokens := make([]uint32, len(raw)/2)
		for i := range tokens {
			tokens[i] = uint32(raw[2*i]) | uint32(raw[2*i+1]&3)<<8
			if raw[2*i+1] == 255 {
				tokens[i] = 0xFFFFFFFF
			}
		}
		checkSBWFastPaths(t, tokens, h, key, self, 0.5)
	})
}

// TestExpSumAccuracy: expSum's grouped sum (one log per 32 factors)
// agrees with the term-by-term sum of vLLM's -log1p(-u), compensated,
// within its bound: 4e-15 absolute per group of 32 plus 1e-15 relative,
// on random words and on runs of the extreme words (u at its largest,
// where the products are smallest, and at its smallest, where the sum is
// tiny and the bound is absolute).
func TestExpSumAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	for _, n := range []int{1, 31, 32, 33, 1000, 100000} {
		for _, kind := range []string{"random", "max", "min", "mixed"} {
			e, all := newExpSum(), newExpSum()
			var sum, comp float64
			ws := make([]uint32, n)
			for i := 0; i < n; i++ {
				w := rng.Uint32()
				switch {
				case kind == "max", kind == "mixed" && i%2 == 0:
					w = 0xFFFFFFFF
				case kind == "min":
					w = 0
				}
				e.add(w)
				ws[i] = w
				// Kahan summation of the reference terms
				y := -math.Log1p(-float64(vllmUniform(w))) - comp
				s := sum + y
				comp = (s - sum) - y
				sum = s
			}
			bound := float64((n+expSumRun-1)/expSumRun)*4e-15 + 1e-15*sum
			if got := e.total(); math.Abs(got-sum) > bound {
				t.Errorf("n=%d %s: grouped sum %v, term by term %v (relative %.1e)", n, kind, got, sum, math.Abs(got-sum)/sum)
			}
			for rest := ws; len(rest) > 0; { // addAll over chunks of random lengths
				c := min(len(rest), 1+rng.IntN(150))
				all.addAll(rest[:c])
				rest = rest[c:]
			}
			if got := all.total(); math.Abs(got-sum) > bound {
				t.Errorf("n=%d %s: addAll sum %v, term by term %v (relative %.1e)", n, kind, got, sum, math.Abs(got-sum)/sum)
			}
		}
	}
}

// TestCtxSetReuse: one ctxSet, reused across sequences of very
// different lengths (its table grown by a long one and used in part by
// short ones), keeps exactly the positions a map of padded contexts keeps,
// also when every hash is equal (all tags match, so only the comparison of
// the contexts tells them apart).
func TestCtxSetReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	var seen ctxSet
	for round, n := range []int{3000, 40, 0, 700, 5, 5000, 90, 1, 2500} {
		h := 1 + round%5
		tokens := make([]uint32, n)
		for i := range tokens {
			tokens[i] = uint32(rng.IntN(6)) // tiny alphabet: many repeated contexts
		}
		seen.reset(tokens, h)
		var got []int
		for i := range tokens {
			if seen.add(i, seen.hash(i)) {
				got = append(got, i)
			}
		}
		want := slowVLLMPositions(tokens, h)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (n=%d, h=%d): kept %v, want %v", round, n, h, got, want)
		}
		if n > 1000 {
			continue // colliding hashes probe quadratically
		}
		seen.reset(tokens, h)
		got = got[:0]
		for i := range tokens {
			if seen.add(i, 0xDEADBEEF<<32) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (n=%d, h=%d), colliding hashes: kept %v, want %v", round, n, h, got, want)
		}
	}
}

// TestVLLMUniformReciprocal: vllmUniform's multiply by the reciprocal of
// 2^24+1 gives vLLM's float32 of the float64 quotient for every one of the
// 2^24 mantissas.
func TestVLLMUniformReciprocal(t *testing.T) {
	for m := uint32(0); m < 1<<24; m++ {
		if got, want := vllmUniform(m<<8|0xA5), float32((float64(m)+1)/(1<<24+1)); got != want {
			t.Fatalf("m=%d: %v, want %v", m, got, want)
		}
	}
}

// TestNegLogExhaustive: negLog(1-u) is within 2 units in the last place
// of math.Log's -ln(1-u) for every one of the 2^24 uniforms vLLM's PRF
// gives (the bound docs/engines.md and vllm_log.go state).
func TestNegLogExhaustive(t *testing.T) {
	worst := 0.0
	for m := uint32(0); m < 1<<24; m++ {
		u := vllmUniform(m << 8)
		got, want := negLog(1-float64(u)), exponentialScore(u)
		ulps := math.Abs(got-want) / (math.Nextafter(want, math.Inf(1)) - want)
		worst = max(worst, ulps)
		if ulps > 2 {
			t.Fatalf("m=%d u=%v: %v, math.Log %v (%.1f ulp)", m, u, got, want, ulps)
		}
	}
	t.Logf("worst difference from math.Log: %.2f ulp", worst)
}
