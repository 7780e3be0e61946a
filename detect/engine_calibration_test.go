package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// engineNull scores human documents under a fresh random engine key per
// (document, replicate) and returns tracemark's p-values (randomized for
// the discrete binomial test) and the fraction of vLLM's own detector
// results below 0.01.
func engineNull(t *testing.T, docs [][]uint32, spec string, keys int, seed uint64) (ks float64, below01, engineBelow01, tests int) {
	t.Helper()
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var ps []float64
	for k := 0; k < keys; k++ {
		for _, doc := range docs {
			w := rng.Uint64()
			if cfg.SchemeName() == "vllm-sbw" {
				w >>= 1
			}
			s, err := cfg.Bind(watermark.NewEngineKey([]uint64{w}, cfg, tokenize.Default, time.Time{}))
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := d.Tokens(doc)
			p := r.PValue
			if r.Test == TestBinomial {
				p = stats.RandomizedBinomialP(r.Green, r.Scored, r.Gamma, rng.Float64())
			}
			ps = append(ps, p)
			if r.PValue < 0.01 {
				below01++
			}
			if s.(watermark.EngineDetector).EngineDetect(doc).PValue < 0.01 {
				engineBelow01++
			}
		}
	}
	_, ks = stats.KSUniform(ps)
	return ks, below01, engineBelow01, len(ps)
}

// TestEngineNullCalibration: on human prose and code, under random engine
// keys, tracemark's p-values for the vLLM schemes are uniform (KS) and at
// most 1% fall below 0.01 (binomially plausible).
func TestEngineNullCalibration(t *testing.T) {
	skipCalibrationUnderRace(t)
	keys := 6
	if !testing.Short() {
		keys = 30
	}
	corpora := map[string][][]uint32{"Opticks": opticksDocs(t), "Go source": goSourceDocs(t, 600)}
	specs := []string{"vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash", "vllm-gumbel:prf=hmac-sha256"}
	for ci, name := range []string{"Opticks", "Go source"} {
		docs := corpora[name]
		for i, spec := range specs {
			k := keys
			if spec == "vllm-gumbel:prf=hmac-sha256" {
				k = 1 // about 60 times slower; one key per document still gives hundreds of tests
			}
			ks, below, engine, n := engineNull(t, docs, spec, k, uint64(500+10*ci+i))
			t.Logf("%s, %s: %d tests, KS p=%.3f, tracemark p<0.01: %.4f, vLLM detector p<0.01: %.4f",
				name, spec, n, ks, float64(below)/float64(n), float64(engine)/float64(n))
			if ks < 0.001 {
				t.Errorf("%s, %s: KS rejects uniform p-values (p=%.3g)", name, spec, ks)
			}
			if math.Exp(stats.LogBinomialTail(below, n, 0.01)) < 0.001 {
				t.Errorf("%s, %s: %d of %d p-values below 0.01", name, spec, below, n)
			}
		}
	}
}
