package watermark

import (
	"encoding/json"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSynthIDWindowMatchesHistory: the window (one probe per position,
// rebuilt from its ring when full) calls exactly the hashes repeated that
// the engines' literal history (SynthIDHistory, a scan of the last History
// hashes, initially zeros) does, on hash streams from small alphabets that
// include 0, for texts shorter and far longer than 4·History (rebuilds).
func TestSynthIDWindowMatchesHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var w synthIDWindow
	rebuilt := 0
	for trial := 0; trial < 400; trial++ {
		history := []int{1, 2, 3, 5, 16, 100}[trial%6]
		n := 1 + rng.IntN(60*history+50)
		alphabet := 1 + rng.IntN(3*history+4)
		ref := NewSynthIDHistory(SynthIDConfig{History: history})
		w.reset(n, history)
		for p := 0; p < n; p++ {
			c := uint64(rng.IntN(alphabet)) * 0x9e3779b97f4a7c15 // 0 included
			if rng.IntN(4) == 0 {
				c = uint64(rng.IntN(3)) // low values: neighbouring slots
			}
			want := ref.Seen(c)
			if w.used == w.limit {
				rebuilt++
			}
			if got := w.seen(c); got != want {
				t.Fatalf("history %d, n %d, position %d, hash %#x: window %v, history %v", history, n, p, c, got, want)
			}
		}
	}
	if rebuilt == 0 {
		t.Fatal("no rebuild exercised")
	}
}

// TestSynthIDReferenceScoreMatchesDefinition: ReferenceScore equals
// detector_mean's formulas computed directly from the g-values (GValues)
// and the engines' literal history, on repetitive texts long enough to
// rebuild the window, for both implementations and several n-gram lengths
// and histories.
func TestSynthIDReferenceScoreMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, spec := range []string{"synthid", "synthid:impl=deepmind", "synthid:ngram_len=2,depth=7,history=3", "synthid:ngram_len=3,depth=64,impl=deepmind,history=16", "synthid:depth=5,table_size=1000,history=1"} {
		s := mustScheme(t, randomTestKey(rng), spec).(*SynthID)
		h, d := s.cfg.NgramLen-1, s.cfg.Depth
		for trial := 0; trial < 12; trial++ {
			tokens := make([]uint32, rng.IntN(3000))
			alphabet := 2 + rng.IntN(20)
			for i := range tokens {
				tokens[i] = uint32(rng.IntN(alphabet))
			}
			hist := NewSynthIDHistory(s.cfg)
			scored, ones, weighted := 0, 0.0, 0.0
			var mask []bool
			for i := h; i < len(tokens); i++ {
				repeated := hist.Seen(s.ContextHash(tokens[i-h : i]))
				mask = append(mask, !repeated)
				if repeated {
					continue
				}
				g, _ := s.GValues(tokens[:i], tokens[i])
				scored++
				ones += float64(bits.OnesCount64(g))
				for l := 0; l < d; l++ {
					weighted += float64(g>>l&1) * s.weights[l]
				}
			}
			got := s.ReferenceScore(tokens)
			if got.Scored != scored {
				t.Fatalf("%s, %d tokens: scored %d, want %d", spec, len(tokens), got.Scored, scored)
			}
			gm := s.RepetitionMask(nil, tokens)
			if len(gm) != len(mask) {
				t.Fatalf("%s: mask of %d, want %d", spec, len(gm), len(mask))
			}
			for i := range mask {
				if gm[i] != mask[i] {
					t.Fatalf("%s: mask position %d: %v, want %v", spec, i, gm[i], mask[i])
				}
			}
			if scored == 0 {
				if !math.IsNaN(got.Mean) || !math.IsNaN(got.WeightedMean) {
					t.Fatalf("%s: no position scored, scores %v %v", spec, got.Mean, got.WeightedMean)
				}
				continue
			}
			den := float64(scored * d)
			if got.Mean != ones/den || math.Abs(got.WeightedMean-weighted/den) > 1e-13 {
				t.Fatalf("%s, %d tokens: mean %v weighted %v, want %v %v", spec, len(tokens), got.Mean, got.WeightedMean, ones/den, weighted/den)
			}
		}
	}
}

// TestSynthIDEngineDetect: EngineDetect is ReferenceScore under the
// engine's name, without a p-value; its JSON form has the mean scores and
// no p_value (null scores when nothing is scored), while vLLM's keeps
// score and p_value. It allocates nothing once its window is pooled.
func TestSynthIDEngineDetect(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	tokens := make([]uint32, 2000)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(300))
	}
	for spec, engine := range map[string]string{"synthid": EngineTransformers, "synthid:impl=deepmind": EngineSynthIDText} {
		s := mustScheme(t, randomTestKey(rng), spec).(*SynthID)
		e := s.EngineDetect(tokens)
		r := s.ReferenceScore(tokens)
		if e.Engine != engine || e.Algorithm != AlgorithmSynthID || !e.NoPValue || e.NumScoredTokens != r.Scored || e.MeanScore != r.Mean || e.WeightedMeanScore != r.WeightedMean {
			t.Errorf("%s: %+v, reference score %+v", spec, e, r)
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 5 || m["engine"] != engine || m["mean_score"] != r.Mean || m["weighted_mean_score"] != r.WeightedMean || m["num_scored_tokens"] != float64(r.Scored) {
			t.Errorf("%s: JSON %s", spec, out)
		}
		out, err = json.Marshal(s.EngineDetect(tokens[:4]))
		if err != nil || !strings.Contains(string(out), `"mean_score":null,"weighted_mean_score":null,"num_scored_tokens":0`) {
			t.Errorf("%s: nothing scored: %s %v", spec, out, err)
		}
		if !raceEnabled { // -race empties sync.Pools at random
			if a := testing.AllocsPerRun(10, func() { s.EngineDetect(tokens) }); a != 0 {
				t.Errorf("%s: EngineDetect: %v allocations", spec, a)
			}
		}
	}
	v := EngineDetection{Engine: "vllm", Algorithm: "gumbel", Score: 3.5, NumScoredTokens: 4}
	if out, _ := json.Marshal(v); string(out) != `{"engine":"vllm","algorithm":"gumbel","score":3.5,"p_value":0,"num_scored_tokens":4}` {
		t.Errorf("vLLM JSON: %s", out)
	}
}

// BenchmarkSynthIDReferenceScore is SynthID's own score (ReferenceScore:
// repetition mask, g-values, mean and weighted mean) per token on random
// 500-token documents.
func BenchmarkSynthIDReferenceScore(b *testing.B) {
	rng := rand.New(rand.NewPCG(27, 28))
	tokens := make([]uint32, 500)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(o200kVocab))
	}
	for _, spec := range []string{"synthid", "synthid:impl=deepmind"} {
		s := mustScheme(b, randomTestKey(rng), spec).(*SynthID)
		b.Run("scheme="+spec, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.ReferenceScore(tokens)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(tokens)), "ns/token")
		})
	}
}
