package detect

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestSynthIDMeanScores recomputes the scores detect reports for SynthID
// (mean_score: the mean g-value over scored n-grams and layers;
// weighted_mean_score: layer l of depth m weighted m-l, normalised to a
// mean) from the scheme's g-values (GValues, checked against the
// observations' bits), each dedup tuple counted once, on token sequences
// that repeat themselves.
func TestSynthIDMeanScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, spec := range []string{"synthid", "synthid:impl=deepmind", "synthid:ngram_len=3,depth=8"} {
		s := anyScheme(t, randomKey(rng), spec).(*watermark.SynthID)
		depth := s.Config().(watermark.SynthIDConfig).Depth
		d, err := New(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		h := s.ContextWidth()
		for trial := 0; trial < 20; trial++ {
			ids := make([]uint32, 50+rng.IntN(400))
			for i := range ids {
				ids[i] = uint32(rng.IntN(30)) // a small alphabet: many repeated n-grams
			}
			obs := s.AppendObservations(nil, ids)
			if len(obs) != len(ids)-h {
				t.Fatalf("%s: %d observations for %d tokens", spec, len(obs), len(ids))
			}
			seen := map[watermark.Tuple]bool{}
			n, ones, weighted := 0, 0, 0.0
			for j, o := range obs {
				i := j + h
				g, ok := s.GValues(ids[:i], ids[i])
				if !ok || g != o.Bits || g>>depth != 0 {
					t.Fatalf("%s: position %d: g-values %b (ok %v), observation %b", spec, i, g, ok, o.Bits)
				}
				if seen[o.Tuple] {
					continue
				}
				seen[o.Tuple] = true
				n++
				ones += bits.OnesCount64(g)
				for l := 0; l < depth; l++ {
					weighted += float64(depth-l) * float64(g>>l&1)
				}
			}
			res := d.Tokens(ids)
			if res.Scored != n || res.Duplicates != len(obs)-n {
				t.Fatalf("%s: scored %d duplicates %d, want %d and %d", spec, res.Scored, res.Duplicates, n, len(obs)-n)
			}
			wantMean := float64(ones) / float64(n*depth)
			wantWeighted := weighted / (float64(n) * float64(depth) * float64(depth+1) / 2)
			if math.Abs(res.MeanScore-wantMean) > 1e-12 || math.Abs(res.WeightedMeanScore-wantWeighted) > 1e-12 {
				t.Fatalf("%s: mean %v weighted %v, want %v and %v", spec, res.MeanScore, res.WeightedMeanScore, wantMean, wantWeighted)
			}
		}
	}
}
