package watermark

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
)

const o200kVocab = 200019 // logits dimension of o200k_base models

func mustKGW(t testing.TB, k *Key, spec string) *KGW {
	t.Helper()
	c, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKGW(k, c.(KGWConfig))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMix64IsSplitMix64(t *testing.T) {
	// The first outputs of SplitMix64 seeded with 1234567 (Vigna's reference).
	want := []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423}
	s := uint64(1234567)
	for i, w := range want {
		s += golden
		if got := mix64(s); got != w {
			t.Errorf("output %d = %d, want %d", i, got, w)
		}
	}
}

// TestGreenFraction checks that P(green) is γ over random contexts and
// tokens, for both seedings: the null the p-values assume.
func TestGreenFraction(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spec := range []string{DefaultSpec, "kgw:gamma=0.5,h=1,seeding=lefthash", "kgw:gamma=0.1,h=2", "kgw:h=0"} {
		s := mustKGW(t, testKey(t, byte(rng.IntN(200))), spec)
		const n = 200000
		green := 0
		ctx := make([]uint32, s.ContextWidth())
		for i := 0; i < n; i++ {
			for j := range ctx {
				ctx[j] = uint32(rng.IntN(o200kVocab))
			}
			if g, ok := s.Green(ctx, uint32(rng.IntN(o200kVocab))); ok && g {
				green++
			}
		}
		if !stats.BinomialCountPlausible(green, n, s.Params().Gamma, 1e-4) {
			t.Errorf("%s: %d of %d green, γ=%v", spec, green, n, s.Params().Gamma)
		}
	}
}

func TestGreenProbabilityIsGamma(t *testing.T) {
	for _, g := range []float64{0.25, 0.5, 0.1, 0.3, 1e-3} {
		if got := math.Ldexp(float64(greenThreshold(g)), -64); got != g {
			t.Errorf("threshold for γ=%v gives P(green)=%v", g, got)
		}
	}
}

// exactWatermarked returns p'(t) ∝ exp(logit_t + δ·green(t)) over the
// candidates, computed directly from Green.
func exactWatermarked(s *KGW, ctx, ids []uint32, logits []float32) []float64 {
	p := make([]float64, len(logits))
	sum := 0.0
	for i, l := range logits {
		t := uint32(i)
		if ids != nil {
			t = ids[i]
		}
		g, _ := s.Green(ctx, t)
		w := float64(l)
		if g {
			w += s.Params().Delta
		}
		p[i] = math.Exp(w)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// chiSquareP returns the p-value of observed counts against probabilities.
func chiSquareP(counts []int, p []float64) float64 {
	n := 0
	for _, c := range counts {
		n += c
	}
	x, df := 0.0, -1
	for i, c := range counts {
		e := p[i] * float64(n)
		if e == 0 {
			if c != 0 {
				return 0
			}
			continue
		}
		x += (float64(c) - e) * (float64(c) - e) / e
		df++
	}
	return stats.ChiSquareSurvival(x, df)
}

// TestEntryPointsSampleTheSameDistribution draws from the watermarked
// distribution four ways (bias full logits then plain sampling; candidate
// sampling from logits over the full vocabulary; over a candidate subset;
// from probabilities) and checks each against the exact p' by chi-square.
func TestEntryPointsSampleTheSameDistribution(t *testing.T) {
	const vocab, draws = 64, 100000
	rng := rand.New(rand.NewPCG(3, 4))
	for _, spec := range []string{DefaultSpec, "kgw:gamma=0.5,delta=1,h=1,seeding=lefthash"} {
		s := mustKGW(t, testKey(t, 11), spec)
		ctx := []uint32{17, 4242, 99, 100000, 7}
		logits := make([]float32, vocab)
		for i := range logits {
			logits[i] = float32(rng.NormFloat64() * 1.5)
		}
		exact := exactWatermarked(s, ctx, nil, logits)
		biased := append([]float32(nil), logits...)
		s.BiasLogits(ctx, biased)
		probs := make([]float32, vocab)
		for i, l := range logits {
			probs[i] = float32(math.Exp(float64(l)))
		}
		biasedProbs := make([]float32, vocab)
		for i, l := range biased {
			biasedProbs[i] = float32(math.Exp(float64(l)))
		}
		// A candidate subset in scrambled order, as left by top-k.
		ids := make([]uint32, 40)
		for i := range ids {
			ids[i] = uint32((i*37 + 5) % vocab)
		}
		sub := make([]float32, len(ids))
		for i, id := range ids {
			sub[i] = logits[id]
		}
		exactSub := exactWatermarked(s, ctx, ids, sub)

		draw := func(f func() (uint32, error), index func(uint32) int, bins int) []int {
			counts := make([]int, bins)
			for i := 0; i < draws; i++ {
				tok, err := f()
				if err != nil {
					t.Fatal(err)
				}
				counts[index(tok)]++
			}
			return counts
		}
		identity := func(t uint32) int { return int(t) }
		subIndex := func(t uint32) int {
			for i, id := range ids {
				if id == t {
					return i
				}
			}
			t0 := t
			panic(t0)
		}
		ways := map[string]struct {
			counts []int
			want   []float64
		}{
			"bias then plain":  {draw(func() (uint32, error) { return SampleLogitsUnmarked(nil, biased, rng) }, identity, vocab), exact},
			"sample logits":    {draw(func() (uint32, error) { return s.SampleLogits(ctx, nil, logits, rng) }, identity, vocab), exact},
			"sample probs":     {draw(func() (uint32, error) { return s.SampleProbs(ctx, nil, probs, rng) }, identity, vocab), exact},
			"candidate subset": {draw(func() (uint32, error) { return s.SampleLogits(ctx, ids, sub, rng) }, subIndex, len(ids)), exactSub},
		}
		for name, w := range ways {
			if p := chiSquareP(w.counts, w.want); p < 1e-4 {
				t.Errorf("%s, %s: chi-square p = %.3g against the watermarked distribution", spec, name, p)
			}
		}
		// The check can fail: the unwatermarked distribution is rejected.
		plain := make([]float64, vocab)
		for i := range plain {
			plain[i] = math.Exp(float64(logits[i]))
		}
		if p := chiSquareP(ways["sample logits"].counts, normalize(plain)); p > 1e-6 {
			t.Errorf("%s: watermarked samples are indistinguishable from unwatermarked ones (p=%v)", spec, p)
		}
	}
}

func normalize(p []float64) []float64 {
	s := 0.0
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func TestShortContextIsUnmarked(t *testing.T) {
	s := mustKGW(t, testKey(t, 5), DefaultSpec)
	logits := []float32{1, 2, 3}
	s.BiasLogits([]uint32{1, 2, 3}, logits) // h=4: context too short
	if logits[0] != 1 || logits[1] != 2 || logits[2] != 3 {
		t.Errorf("short context changed logits: %v", logits)
	}
	if _, scored := s.Green([]uint32{1}, 5); scored {
		t.Error("short context reported as scored")
	}
}

func TestNonFiniteAndEmptyInputs(t *testing.T) {
	s := mustKGW(t, testKey(t, 6), "kgw:gamma=0.5,h=1,seeding=lefthash")
	rng := rand.New(rand.NewPCG(5, 6))
	ctx := []uint32{42}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))

	logits := []float32{nan, inf, float32(math.Inf(-1)), 0}
	s.BiasLogits(ctx, logits) // must not panic
	if !math.IsNaN(float64(logits[0])) || !math.IsInf(float64(logits[1]), 1) || !math.IsInf(float64(logits[2]), -1) {
		t.Errorf("non-finite logits changed: %v", logits)
	}
	s.BiasLogits(ctx, nil)

	for name, c := range map[string]struct {
		ids  []uint32
		vals []float32
		prob bool
		err  error
		only map[uint32]bool
	}{
		"empty":            {nil, nil, false, ErrNoCandidates, nil},
		"all -Inf":         {nil, []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, false, ErrNoCandidates, nil},
		"all NaN":          {nil, []float32{nan, nan}, false, ErrNoCandidates, nil},
		"NaN never chosen": {[]uint32{7, 8, 9}, []float32{nan, 0, 1}, false, nil, map[uint32]bool{8: true, 9: true}},
		"+Inf takes all":   {[]uint32{7, 8, 9, 10}, []float32{0, inf, 50, inf}, false, nil, map[uint32]bool{8: true, 10: true}},
		"zero probs":       {nil, []float32{0, 0}, true, ErrNoCandidates, nil},
		"negative prob":    {[]uint32{1, 2}, []float32{-1, 0.5}, true, nil, map[uint32]bool{2: true}},
		"length mismatch":  {[]uint32{1}, []float32{1, 2}, false, ErrLengthMismatch, nil},
	} {
		for i := 0; i < 200; i++ {
			var tok uint32
			var err error
			if c.prob {
				tok, err = s.SampleProbs(ctx, c.ids, c.vals, rng)
			} else {
				tok, err = s.SampleLogits(ctx, c.ids, c.vals, rng)
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("%s: err = %v, want %v", name, err, c.err)
			}
			if c.only != nil && !c.only[tok] {
				t.Fatalf("%s: sampled %d", name, tok)
			}
		}
	}
}

func TestNoAllocationsPerCall(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	logits := make([]float32, o200kVocab)
	ids := make([]uint32, 40)
	sub := make([]float32, 40)
	for i := range ids {
		ids[i] = uint32(rng.IntN(o200kVocab))
		sub[i] = float32(rng.NormFloat64())
	}
	ctx := []uint32{1, 2, 3, 4, 5, 6}
	tokens := make([]uint32, 500)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(1000))
	}
	obs := make([]Observation, 0, len(tokens))
	for _, spec := range []string{DefaultSpec, "kgw:h=1,seeding=lefthash"} {
		s := mustKGW(t, testKey(t, 2), spec)
		for name, f := range map[string]func(){
			"BiasLogits":          func() { s.BiasLogits(ctx, logits) },
			"SampleLogits k=40":   func() { s.SampleLogits(ctx, ids, sub, rng) },
			"SampleProbs k=40":    func() { s.SampleProbs(ctx, ids, sub, rng) },
			"SampleLogits n=2000": func() { s.SampleLogits(ctx, nil, logits[:2000], rng) },
			"AppendObservations":  func() { obs = s.AppendObservations(obs[:0], tokens) },
			"Green":               func() { s.Green(ctx, 99) },
		} {
			if a := testing.AllocsPerRun(20, f); a != 0 {
				t.Errorf("%s %s: %v allocations per call", spec, name, a)
			}
		}
	}
}

// TestObservationsMatchGreen checks the sequence scorer (ring of token
// hashes) against the per-position definition.
func TestObservationsMatchGreen(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	tokens := make([]uint32, 300)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(50)) // small alphabet: many repeats
	}
	for _, spec := range []string{DefaultSpec, "kgw:h=3,seeding=lefthash", "kgw:h=0", "kgw:h=7"} {
		s := mustKGW(t, testKey(t, 8), spec)
		obs := s.AppendObservations(nil, tokens)
		h := s.ContextWidth()
		if len(obs) != len(tokens)-h {
			t.Fatalf("%s: %d observations for %d tokens", spec, len(obs), len(tokens))
		}
		for i, o := range obs {
			g, ok := s.Green(tokens[:h+i], tokens[h+i])
			if !ok || g != (o.Score == 1) || o.Tuple.Token != tokens[h+i] {
				t.Fatalf("%s: position %d disagrees", spec, h+i)
			}
		}
	}
}

func TestDifferentKeysDifferentGreenLists(t *testing.T) {
	a := mustKGW(t, testKey(t, 1), DefaultSpec)
	b := mustKGW(t, testKey(t, 2), DefaultSpec)
	ctx := []uint32{5, 6, 7, 8}
	same := 0
	for tok := uint32(0); tok < 10000; tok++ {
		ga, _ := a.Green(ctx, tok)
		gb, _ := b.Green(ctx, tok)
		if ga == gb {
			same++
		}
	}
	// Independent lists agree on γ²+(1-γ)² = 62.5% of tokens.
	if !stats.BinomialCountPlausible(same, 10000, 0.625, 1e-4) {
		t.Errorf("keys agree on %d of 10000 tokens", same)
	}
}

// TestLargeCandidateSets checks the block-sum path used above
// stackCandidates against the exact watermarked distribution.
func TestLargeCandidateSets(t *testing.T) {
	const vocab, draws = 1000, 100000
	rng := rand.New(rand.NewPCG(12, 13))
	s := mustKGW(t, testKey(t, 21), DefaultSpec)
	ctx := []uint32{3, 1, 4, 1, 5}
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 0.5)
	}
	exact := exactWatermarked(s, ctx, nil, logits)
	biased := append([]float32(nil), logits...)
	s.BiasLogits(ctx, biased)
	for name, f := range map[string]func() (uint32, error){
		"sample logits":   func() (uint32, error) { return s.SampleLogits(ctx, nil, logits, rng) },
		"bias then plain": func() (uint32, error) { return SampleLogitsUnmarked(nil, biased, rng) },
	} {
		counts := make([]int, vocab)
		for i := 0; i < draws; i++ {
			tok, err := f()
			if err != nil {
				t.Fatal(err)
			}
			counts[tok]++
		}
		if p := chiSquareP(counts, exact); p < 1e-4 {
			t.Errorf("%s over %d candidates: chi-square p = %.3g", name, vocab, p)
		}
	}
	// Non-finite values in a large set.
	odd := make([]float32, 5000)
	for i := range odd {
		odd[i] = float32(math.Inf(-1))
	}
	odd[10], odd[4000] = float32(math.NaN()), 0
	for i := 0; i < 100; i++ {
		if tok, err := s.SampleLogits(ctx, nil, odd, rng); err != nil || tok != 4000 {
			t.Fatalf("only finite candidate is 4000, got %d, %v", tok, err)
		}
	}
	odd[4000], odd[4500], odd[20] = float32(math.Inf(1)), float32(math.Inf(1)), 30
	for i := 0; i < 100; i++ {
		if tok, err := s.SampleLogits(ctx, nil, odd, rng); err != nil || (tok != 4000 && tok != 4500) {
			t.Fatalf("+Inf candidates are 4000 and 4500, got %d, %v", tok, err)
		}
	}
	odd[4000], odd[4500], odd[20] = float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	if _, err := s.SampleLogits(ctx, nil, odd, rng); !errors.Is(err, ErrNoCandidates) {
		t.Errorf("no finite candidate: %v", err)
	}
	if testing.Short() {
		return
	}
	// More than blockCount² candidates: blocks exceed the stack buffer.
	huge := make([]float32, blockCount*blockCount+5000)
	for i := range huge {
		huge[i] = float32(math.Inf(-1))
	}
	huge[7], huge[len(huge)-1] = 0, float32(math.Log(3))
	last := 0
	for i := 0; i < 400; i++ {
		tok, err := SampleLogitsUnmarked(nil, huge, rng)
		if err != nil || (tok != 7 && int(tok) != len(huge)-1) {
			t.Fatalf("huge set: %d, %v", tok, err)
		}
		if int(tok) == len(huge)-1 {
			last++
		}
	}
	if !stats.BinomialCountPlausible(last, 400, 0.75, 1e-4) {
		t.Errorf("huge set: last candidate drawn %d of 400 times, want about 300", last)
	}
}

func TestArgmaxLogits(t *testing.T) {
	s := mustKGW(t, testKey(t, 31), "kgw:gamma=0.5,delta=2,h=1,seeding=lefthash")
	ctx := []uint32{77}
	var green, red []uint32
	for tok := uint32(0); len(green) < 3 || len(red) < 3; tok++ {
		if g, _ := s.Green(ctx, tok); g {
			green = append(green, tok)
		} else {
			red = append(red, tok)
		}
	}
	// A green token within δ of a red leader wins; beyond δ it does not.
	for _, c := range []struct {
		ids    []uint32
		logits []float32
		want   uint32
	}{
		{[]uint32{red[0], green[0]}, []float32{5, 3.5}, green[0]},
		{[]uint32{red[0], green[0]}, []float32{5, 2.5}, red[0]},
		{[]uint32{green[0], green[1]}, []float32{1, 1}, green[0]},
		{[]uint32{red[0], green[0], red[1]}, []float32{float32(math.NaN()), float32(math.Inf(-1)), -3}, red[1]},
		{[]uint32{green[0], red[0], red[1]}, []float32{100, float32(math.Inf(1)), 1}, red[0]},
		{[]uint32{red[0], green[0]}, []float32{float32(math.Inf(1)), float32(math.Inf(1))}, green[0]},
	} {
		got, err := s.ArgmaxLogits(ctx, c.ids, c.logits)
		if err != nil || got != c.want {
			t.Errorf("ArgmaxLogits(%v, %v) = %d, %v; want %d", c.ids, c.logits, got, err, c.want)
		}
	}
	if _, err := s.ArgmaxLogits(ctx, nil, []float32{float32(math.NaN())}); !errors.Is(err, ErrNoCandidates) {
		t.Errorf("all NaN: %v", err)
	}
	if _, err := s.ArgmaxLogits(ctx, []uint32{1}, nil); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("length mismatch: %v", err)
	}
	if a := testing.AllocsPerRun(20, func() { s.ArgmaxLogits(ctx, red, []float32{1, 2, 3}) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
