package watermark

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect/stats"
)

func randomTestKey(rng *rand.Rand) *Key {
	var s [SecretSize]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return NewKey(s, DefaultKGW(), DefaultTokenizer, time.Time{})
}

func mustScheme(t testing.TB, k *Key, spec string) Scheme {
	t.Helper()
	c, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScheme(engineStandIn(k, c), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// engineStandIn returns k, or for an engine scheme and a 32-byte key an
// engine key whose words are derived from k's secret, so that tests drawing
// random keys cover engine schemes too.
func engineStandIn(k *Key, c Config) *Key {
	ec, ok := c.(EngineConfig)
	if !ok || k.IsEngine() {
		return k
	}
	words := make([]uint64, ec.EngineKeyWords())
	for i := range words {
		words[i] = deriveWord(&k.secret, "test/engine/"+strconv.Itoa(i))
	}
	return NewEngineKey(words, c, k.Tokenizer, k.Created)
}

func softmax(logits []float32) []float64 {
	p := make([]float64, len(logits))
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	s := 0.0
	for i, l := range logits {
		p[i] = math.Exp(float64(l) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// TestDistortionFree draws one token per random key (and random context)
// from fixed logits: over keys, Gumbel and tournament sampling must follow
// the model's distribution exactly (chi-square), for logits and for
// probabilities. KGW must not (the check can fail).
func TestDistortionFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const vocab, draws = 30, 60000
	logits := make([]float32, vocab)
	probs := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 1.2)
	}
	want := softmax(logits)
	for i := range probs {
		probs[i] = float32(want[i])
	}
	ids := make([]uint32, vocab)
	for i := range ids {
		ids[i] = uint32(1000 + 37*i)
	}
	index := map[uint32]int{}
	for i, id := range ids {
		index[id] = i
	}
	for _, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4", "tournament:m=3,h=2", "synthid:table_size=1024", "synthid:impl=deepmind,depth=8,ngram_len=3", DefaultSpec} {
		for _, useProbs := range []bool{false, true} {
			counts := make([]int, vocab)
			for i := 0; i < draws; i++ {
				s := mustScheme(t, randomTestKey(rng), spec)
				ctx := []uint32{uint32(rng.IntN(1000)), 2, 3, 4}
				var tok uint32
				var err error
				if useProbs {
					tok, err = s.SampleProbs(ctx, ids, probs, rng)
				} else {
					tok, err = s.SampleLogits(ctx, ids, logits, rng)
				}
				if err != nil {
					t.Fatal(err)
				}
				counts[index[tok]]++
			}
			x := 0.0
			for i, c := range counts {
				e := want[i] * draws
				x += (float64(c) - e) * (float64(c) - e) / e
			}
			p := stats.ChiSquareSurvival(x, vocab-1)
			t.Logf("%s (probs=%v): chi-square %.1f, df %d, p = %.3g", spec, useProbs, x, vocab-1, p)
			if spec == DefaultSpec {
				if p > 1e-6 {
					t.Errorf("KGW looks distortion-free (p=%.3g): the test cannot fail", p)
				}
			} else if p < 1e-4 {
				t.Errorf("%s (probs=%v) distorts the distribution: chi-square p = %.3g", spec, useProbs, p)
			}
		}
	}
}

// TestTournamentMatchesExplicitTournament plays the tournament literally
// (2^m candidates drawn from the model, m knockout layers, fair coins on
// ties) and compares with the closed-form sampler, for one key and context.
func TestTournamentMatchesExplicitTournament(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tn := mustScheme(t, randomTestKey(rng), "tournament:m=4,h=1").(*Tournament)
	ctx := []uint32{99}
	const vocab, draws = 12, 80000
	logits := make([]float32, vocab)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64())
	}
	p := softmax(logits)
	seed := contextSeed(tn.context, ctx)
	explicit := make([]int, vocab)
	closed := make([]int, vocab)
	for d := 0; d < draws; d++ {
		players := make([]int, 16)
		for i := range players {
			u, acc := rng.Float64(), 0.0
			players[i] = vocab - 1
			for j, pj := range p {
				if acc += pj; u < acc {
					players[i] = j
					break
				}
			}
		}
		for l := 0; l < 4; l++ {
			next := players[:0:0]
			for i := 0; i < len(players); i += 2 {
				a, b := players[i], players[i+1]
				ga := tn.gvalues(seed, uint32(a)) >> l & 1
				gb := tn.gvalues(seed, uint32(b)) >> l & 1
				switch {
				case ga > gb:
					next = append(next, a)
				case gb > ga:
					next = append(next, b)
				case rng.IntN(2) == 0:
					next = append(next, a)
				default:
					next = append(next, b)
				}
			}
			players = next
		}
		explicit[players[0]]++
		tok, err := tn.SampleLogits(ctx, nil, logits, rng)
		if err != nil {
			t.Fatal(err)
		}
		closed[tok]++
	}
	// Two-sample chi-square.
	x, df := 0.0, -1
	for i := range explicit {
		a, b := float64(explicit[i]), float64(closed[i])
		if a+b > 0 {
			x += (a - b) * (a - b) / (a + b)
			df++
		}
	}
	if p := stats.ChiSquareSurvival(x, df); p < 1e-4 {
		t.Errorf("closed form differs from the explicit tournament: chi-square p = %.3g\nexplicit %v\nclosed   %v", p, explicit, closed)
	}
}

// TestTournamentLargeSets checks the recompute path (more than
// stackCandidates candidates) against the stack path's distribution.
func TestTournamentLargeSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tn := mustScheme(t, randomTestKey(rng), "tournament:m=10,h=1").(*Tournament)
	ctx := []uint32{5}
	n := stackCandidates + 88
	logits := make([]float32, n)
	for i := range logits {
		logits[i] = -20
	}
	for i := 0; i < 20; i++ {
		logits[rng.IntN(n)] = float32(rng.NormFloat64())
	}
	// The same candidates in a set small enough for the stack path.
	var small []uint32
	var smallLogits []float32
	for i, l := range logits {
		if l > -20 {
			small = append(small, uint32(i))
			smallLogits = append(smallLogits, l)
		}
	}
	const draws = 15000
	a, b := map[uint32]int{}, map[uint32]int{}
	for d := 0; d < draws; d++ {
		x, err := tn.SampleLogits(ctx, nil, logits, rng)
		if err != nil {
			t.Fatal(err)
		}
		y, _ := tn.SampleLogits(ctx, small, smallLogits, rng)
		a[x]++
		b[y]++
	}
	chi, df := 0.0, -1
	for _, id := range small {
		u, v := float64(a[id]), float64(b[id])
		if u+v > 0 {
			chi += (u - v) * (u - v) / (u + v)
			df++
		}
	}
	// Tokens at -20 carry about e^-20 of the mass: they are (almost) never drawn.
	if p := stats.ChiSquareSurvival(chi, df); p < 1e-4 {
		t.Errorf("large-set path differs: chi-square p = %.3g", p)
	}
}

func TestGumbelIsDeterministicPerContext(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	g := mustScheme(t, randomTestKey(rng), "gumbel:h=2")
	logits := []float32{1, 0.5, 0.2, -1, 2}
	first, _ := g.SampleLogits([]uint32{1, 2}, nil, logits, rng)
	for i := 0; i < 20; i++ {
		if tok, _ := g.SampleLogits([]uint32{7, 1, 2}, nil, logits, rng); tok != first {
			t.Fatal("same context, different token")
		}
	}
	if _, err := g.ArgmaxLogits([]uint32{1, 2}, nil, logits); !errors.Is(err, ErrGreedyUnmarkable) {
		t.Errorf("gumbel greedy: %v", err)
	}
	tn := mustScheme(t, randomTestKey(rng), "tournament")
	if _, err := tn.ArgmaxLogits([]uint32{1, 2, 3, 4}, nil, logits); !errors.Is(err, ErrGreedyUnmarkable) {
		t.Errorf("tournament greedy: %v", err)
	}
	if !g.Deterministic() || !tn.Deterministic() || mustScheme(t, randomTestKey(rng), DefaultSpec).Deterministic() {
		t.Error("Deterministic flags")
	}
}

func TestSchemesNonFiniteInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	nan, inf, ninf := float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	for _, spec := range []string{"gumbel:h=1", "tournament:m=8,h=1", "synthid:ngram_len=2,depth=8,table_size=64"} {
		s := mustScheme(t, randomTestKey(rng), spec)
		ctx := []uint32{3}
		for name, c := range map[string]struct {
			vals []float32
			prob bool
			err  error
			only map[uint32]bool
		}{
			"empty":          {nil, false, ErrNoCandidates, nil},
			"all -Inf":       {[]float32{ninf, ninf}, false, ErrNoCandidates, nil},
			"NaN never":      {[]float32{nan, 0, 1}, false, nil, map[uint32]bool{1: true, 2: true}},
			"+Inf takes all": {[]float32{0, inf, 50, inf}, false, nil, map[uint32]bool{1: true, 3: true}},
			"zero probs":     {[]float32{0, 0}, true, ErrNoCandidates, nil},
			"negative prob":  {[]float32{-1, 0.5}, true, nil, map[uint32]bool{1: true}},
		} {
			for i := 0; i < 50; i++ {
				var tok uint32
				var err error
				ctx[0] = uint32(i) // new context, new keyed values
				if c.prob {
					tok, err = s.SampleProbs(ctx, nil, c.vals, rng)
				} else {
					tok, err = s.SampleLogits(ctx, nil, c.vals, rng)
				}
				if !errors.Is(err, c.err) {
					t.Fatalf("%s %s: err %v, want %v", spec, name, err, c.err)
				}
				if c.only != nil && !c.only[tok] {
					t.Fatalf("%s %s: sampled %d", spec, name, tok)
				}
			}
		}
		if _, err := s.SampleLogits(ctx, []uint32{1}, []float32{1, 2}, rng); !errors.Is(err, ErrLengthMismatch) {
			t.Errorf("%s: length mismatch: %v", spec, err)
		}
	}
}

func TestSchemesAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	ids := make([]uint32, 40)
	logits := make([]float32, 40)
	for i := range ids {
		ids[i], logits[i] = uint32(rng.IntN(200000)), float32(rng.NormFloat64())
	}
	big := make([]float32, 2000)
	tokens := make([]uint32, 300)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(500))
	}
	obs := make([]Observation, 0, len(tokens))
	ctx := []uint32{1, 2, 3, 4, 5}
	for _, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4", "kgw:payload_bits=32", "synthid", "synthid:impl=deepmind"} {
		s := mustScheme(t, randomTestKey(rng), spec)
		for name, f := range map[string]func(){
			"SampleLogits k=40":  func() { s.SampleLogits(ctx, ids, logits, rng) },
			"SampleProbs k=40":   func() { s.SampleProbs(ctx, ids, logits, rng) },
			"SampleLogits 2000":  func() { s.SampleLogits(ctx, nil, big, rng) },
			"AppendObservations": func() { obs = s.AppendObservations(obs[:0], tokens) },
		} {
			if a := testing.AllocsPerRun(10, f); a != 0 {
				t.Errorf("%s %s: %v allocations", spec, name, a)
			}
		}
	}
}

func TestObservationsUnderTheNull(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	tokens := make([]uint32, 20000)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(200000))
	}
	// Gumbel scores are Exp(1): mean 1, and P(score > 1) = 1/e.
	g := mustScheme(t, randomTestKey(rng), "gumbel:h=2")
	above, sum := 0, 0.0
	for _, o := range g.AppendObservations(nil, tokens) {
		sum += o.Score
		if o.Score > 1 {
			above++
		}
	}
	if !stats.BinomialCountPlausible(above, len(tokens)-2, 1/math.E, 1e-4) || math.Abs(sum/float64(len(tokens)-2)-1) > 0.05 {
		t.Errorf("gumbel scores: mean %v, above 1: %d", sum/float64(len(tokens)-2), above)
	}
	// Tournament g-values are fair bits in every layer.
	tn := mustScheme(t, randomTestKey(rng), "tournament:m=30,h=2")
	var layer [30]int
	for _, o := range tn.AppendObservations(nil, tokens) {
		if o.Bits>>30 != 0 || float64(bits.OnesCount64(o.Bits)) != o.Score {
			t.Fatal("g-values outside the m layers")
		}
		for l := range layer {
			layer[l] += int(o.Bits >> l & 1)
		}
	}
	for l, c := range layer {
		if !stats.BinomialCountPlausible(c, len(tokens)-2, 0.5, 1e-5) {
			t.Errorf("layer %d: %d ones", l, c)
		}
	}
	// Payload colours are uniform in every slot.
	k := mustScheme(t, randomTestKey(rng), "kgw:h=2,seeding=lefthash,payload_bits=8,radix=4")
	var cnt [4][4]int
	for _, o := range k.AppendObservations(nil, tokens) {
		cnt[o.Slot][o.Colour]++
	}
	for j := range cnt {
		n := cnt[j][0] + cnt[j][1] + cnt[j][2] + cnt[j][3]
		for c := range cnt[j] {
			if !stats.BinomialCountPlausible(cnt[j][c], n, 0.25, 1e-5) {
				t.Errorf("slot %d colour %d: %d of %d", j, c, cnt[j][c], n)
			}
		}
	}
}

func TestPayloadEmbedding(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	key := randomTestKey(rng)
	base := mustScheme(t, key, "kgw:h=1,seeding=lefthash,payload_bits=16,radix=4").(*KGW)
	if _, err := base.WithPayload(1 << 16); err == nil {
		t.Error("payload wider than 16 bits accepted")
	}
	if _, err := mustScheme(t, key, DefaultSpec).(*KGW).WithPayload(1); err == nil {
		t.Error("payload on a zero-bit scheme accepted")
	}
	k, err := base.WithPayload(0xBEEF)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := k.Payload(); !ok || p != 0xBEEF {
		t.Errorf("Payload() = %x, %v", p, ok)
	}
	// Sampled tokens mostly carry the payload symbol of their slot.
	ids := make([]uint32, 60)
	logits := make([]float32, 60)
	var match, total int
	seq := []uint32{1}
	for i := 0; i < 3000; i++ {
		for j := range ids {
			ids[j] = uint32(rng.IntN(200000))
		}
		tok, _ := k.SampleLogits(seq, ids, logits, rng)
		seq = append(seq, tok)
	}
	for _, o := range k.AppendObservations(nil, seq) {
		total++
		if uint64(o.Colour) == uint64(0xBEEF)>>(2*uint(o.Slot))&3 {
			match++
		}
	}
	// Uniform candidates, δ=2, 4 colours: P(match) = e²/(e²+3) ≈ 0.71.
	if f := float64(match) / float64(total); f < 0.65 || f > 0.77 {
		t.Errorf("%.3f of tokens carry their slot's symbol, want about 0.71", f)
	}
}
