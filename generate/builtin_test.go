package generate

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

func builtinModel(t testing.TB) *ngram.Model {
	t.Helper()
	m, _, err := ngram.Builtin(context.Background(), ngram.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// opticksPrompts returns n prompts: the first eight words of paragraphs of
// Newton's Opticks, text the model was not trained on.
func opticksPrompts(t testing.TB, n int) []string {
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	var out []string
	for _, para := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if w := strings.Fields(para); len(w) >= 20 {
			out = append(out, strings.Join(w[:8], " "))
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("only %d prompts", len(out))
	return nil
}

// completion is one generated completion, re-tokenized from its text.
type completion struct {
	ids        []uint32 // tokens of the decoded text, as a detector sees them
	perplexity float64  // of the generated tokens, given the prompt
}

// runCompletions generates one 200-token completion per seed (prompt seed
// mod len(prompts)) on two workers.
func runCompletions(t *testing.T, m *ngram.Model, mark watermark.Scheme, prompts []string, seeds []uint64, tokens int) []completion {
	tok, _ := tokenize.Get(ngram.BuiltinTokenizer)
	out := make([]completion, len(seeds))
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var wm Watermark
			if mark != nil {
				wm = mark
			}
			s, _ := NewSampler(m.NewSession(), wm, DefaultSettings())
			for i := w; i < len(seeds); i += 2 {
				prompt, _ := tok.AppendEncode(nil, prompts[int(seeds[i])%len(prompts)])
				c, err := s.Complete(context.Background(), tok, prompt, tokens, rand.New(rand.NewPCG(seeds[i], 0)))
				if err != nil {
					t.Error(err)
					return
				}
				ids, _ := tok.AppendEncode(nil, c.Text)
				ppl, _ := m.Perplexity(append(prompt, c.Tokens...), len(prompt))
				out[i] = completion{ids, ppl}
			}
		}(w)
	}
	wg.Wait()
	return out
}

func testKey(seed uint64) *watermark.Key {
	rng := rand.New(rand.NewPCG(seed, seed))
	var s [watermark.SecretSize]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return watermark.NewKey(s, watermark.DefaultKGW(), ngram.BuiltinTokenizer, time.Time{})
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestBuiltinModelAcceptance is the end-to-end acceptance check with the
// built-in model and the default scheme: watermarked 200-token completions
// are detected at alpha 1e-6, and unwatermarked completions scored with the
// key are calibrated (the n-gram model's repetitions create no signal once
// deduplicated).
func TestBuiltinModelAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1,120 completions")
	}
	m := builtinModel(t)
	key := testKey(1)
	scheme, err := watermark.NewKGW(key, watermark.DefaultKGW())
	if err != nil {
		t.Fatal(err)
	}
	prompts := opticksPrompts(t, 120)

	seeds := make([]uint64, 120)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	marked := runCompletions(t, m, scheme, prompts, seeds, 200)
	det, _ := detect.New(scheme, detect.Options{})
	detected := 0
	var need, pplMarked, log10p []float64
	for _, c := range marked {
		r := det.Tokens(c.ids)
		if r.Detected {
			detected++
		}
		if n := det.TokensToDetection(c.ids); n > 0 {
			need = append(need, float64(n))
		} else {
			need = append(need, math.Inf(1))
		}
		pplMarked = append(pplMarked, c.perplexity)
		log10p = append(log10p, r.Log10P)
	}
	rate := float64(detected) / float64(len(marked))
	t.Logf("watermarked: %d/%d detected at alpha 1e-6 (%.1f%%); median tokens to p<1e-6: %.0f; median log10 p %.1f; median perplexity %.2f",
		detected, len(marked), 100*rate, medianOf(need), medianOf(log10p), medianOf(pplMarked))
	if rate < 0.95 {
		t.Errorf("only %.1f%% of watermarked completions detected", 100*rate)
	}

	seeds = make([]uint64, 1000)
	for i := range seeds {
		seeds[i] = uint64(1000 + i)
	}
	plain := runCompletions(t, m, nil, prompts, seeds, 200)
	var pplPlain []float64
	for _, c := range plain {
		pplPlain = append(pplPlain, c.perplexity)
	}
	t.Logf("perplexity under the model (median): watermarked %.2f, unwatermarked %.2f", medianOf(pplMarked), medianOf(pplPlain))

	// Scored with the one key, as the issue asks: the count below 1e-3 must
	// be binomially consistent with 1e-3. Completions share many tuples
	// (the model reuses the same phrases), so under one key their p-values
	// are dependent and a KS test across them would be invalid; KS checks
	// the marginal distribution instead, with a fresh key per completion.
	rng := rand.New(rand.NewPCG(77, 77))
	below := 0
	var fixedKey, freshKey []float64
	for i, c := range plain {
		r := det.Tokens(c.ids)
		if r.PValue < 1e-3 {
			below++
		}
		fixedKey = append(fixedKey, stats.RandomizedBinomialP(r.Green, r.Scored, r.Gamma, rng.Float64()))
		fresh, _ := watermark.NewKGW(testKey(uint64(100000+i)), watermark.DefaultKGW())
		fd, _ := detect.New(fresh, detect.Options{})
		fr := fd.Tokens(c.ids)
		freshKey = append(freshKey, stats.RandomizedBinomialP(fr.Green, fr.Scored, fr.Gamma, rng.Float64()))
	}
	dFixed, pFixed := stats.KSUniform(fixedKey)
	dFresh, pFresh := stats.KSUniform(freshKey)
	t.Logf("unwatermarked, one key: %d/%d with p < 1e-3; KS of randomized p-values D=%.4f p=%.3g (dependent samples)", below, len(plain), dFixed, pFixed)
	t.Logf("unwatermarked, a fresh key each: KS of randomized p-values D=%.4f p=%.3f", dFresh, pFresh)
	if math.Exp(stats.LogBinomialTail(below, len(plain), 1e-3)) < 1e-3 {
		t.Errorf("%d of %d unwatermarked completions have p < 1e-3", below, len(plain))
	}
	if pFresh < 1e-3 {
		t.Errorf("randomized p-values of unwatermarked completions are not uniform (KS p=%.3g)", pFresh)
	}
}

func TestSamplerAllocatesNothing(t *testing.T) {
	m := builtinModel(t)
	scheme, err := watermark.NewKGW(testKey(2), watermark.DefaultKGW())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSampler(m.NewSession(), scheme, DefaultSettings())
	ctx := []uint32{976, 6286, 382, 261}
	rng := rand.New(rand.NewPCG(1, 1))
	s.Next(ctx, rng)
	if a := testing.AllocsPerRun(50, func() { s.Next(ctx, rng) }); a != 0 {
		t.Errorf("Sampler.Next: %v allocations per token", a)
	}
}

// TestBuiltinModelEverySchemes generates 120 completions per scheme with
// the built-in model and reports detection at alpha 1e-6, the median
// tokens needed, and perplexity.
func TestBuiltinModelEveryScheme(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 480 completions")
	}
	m := builtinModel(t)
	prompts := opticksPrompts(t, 120)
	seeds := make([]uint64, 120)
	for i := range seeds {
		seeds[i] = uint64(5000 + i)
	}
	for _, c := range []struct {
		spec   string
		tokens int
	}{{watermark.DefaultSpec, 200}, {"gumbel:h=4", 200}, {"tournament:m=30,h=4", 200}, {"kgw:payload_bits=32", 200}} {
		cfg, _ := watermark.ParseSpec(c.spec)
		scheme, err := watermark.NewScheme(testKey(9), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := scheme.(*watermark.KGW); ok && k.Params().PayloadBits > 0 {
			scheme, _ = k.WithPayload(0x5EED1234)
		}
		out := runCompletions(t, m, scheme, prompts, seeds, c.tokens)
		det, _ := detect.New(scheme, detect.Options{})
		detected := 0
		var need, ppl []float64
		for _, comp := range out {
			if det.Tokens(comp.ids).Detected {
				detected++
			}
			n := det.TokensToDetection(comp.ids)
			if n < 0 {
				n = math.MaxInt32
			}
			need = append(need, float64(n))
			ppl = append(ppl, comp.perplexity)
		}
		rate := float64(detected) / float64(len(out))
		t.Logf("%s: %d/%d detected at alpha 1e-6 with %d tokens; median tokens to p<1e-6: %.0f; median perplexity %.2f",
			c.spec, detected, len(out), c.tokens, medianOf(need), medianOf(ppl))
		if rate < 0.95 {
			t.Errorf("%s: only %.1f%% detected", c.spec, 100*rate)
		}
	}
}

// TestPayloadDecodingLength measures how many tokens the built-in model
// needs before a 32-bit payload decodes exactly: 100 generations of 1200
// tokens, each with its own random payload, decoded from prefixes.
func TestPayloadDecodingLength(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 120,000 tokens")
	}
	m := builtinModel(t)
	cfg, _ := watermark.ParseSpec("kgw:payload_bits=32")
	base, err := watermark.NewKGW(testKey(10), cfg.(watermark.KGWConfig))
	if err != nil {
		t.Fatal(err)
	}
	prompts := opticksPrompts(t, 100)
	tok, _ := tokenize.Get(ngram.BuiltinTokenizer)
	lengths := []int{200, 400, 600, 800, 1000, 1200}
	const gens = 100
	exact := make([][]bool, gens)
	claimed := make([][]bool, gens)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for g := w; g < gens; g += 2 {
				payload := rand.New(rand.NewPCG(uint64(g), 99)).Uint64() & 0xFFFFFFFF
				k, _ := base.WithPayload(payload)
				s, _ := NewSampler(m.NewSession(), k, DefaultSettings())
				prompt, _ := tok.AppendEncode(nil, prompts[g])
				c, err := s.Complete(context.Background(), tok, prompt, 1200, rand.New(rand.NewPCG(uint64(g), 7)))
				if err != nil {
					t.Error(err)
					return
				}
				det, _ := detect.New(k, detect.Options{})
				want := strconv.FormatUint(payload, 16)
				for _, n := range lengths {
					text, err := Text(tok, prompt, c.Tokens[:n])
					if err != nil {
						t.Error(err)
						return
					}
					ids, _ := tok.AppendEncode(nil, text)
					r := det.Tokens(ids)
					exact[g] = append(exact[g], r.Payload == want)
					claimed[g] = append(claimed[g], r.PayloadClaimed && r.Payload == want)
				}
			}
		}(w)
	}
	wg.Wait()
	for i, n := range lengths {
		e, cl := 0, 0
		for g := 0; g < gens; g++ {
			if exact[g][i] {
				e++
			}
			if claimed[g][i] {
				cl++
			}
		}
		t.Logf("32-bit payload after %4d tokens: decoded exactly in %3d/%d, claimed at alpha 1e-6 in %3d/%d", n, e, gens, cl, gens)
		if n == 1000 && e < 97 {
			t.Errorf("only %d/%d payloads decode exactly after 1000 tokens", e, gens)
		}
	}
}
