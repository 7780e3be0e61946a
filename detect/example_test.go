package detect_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// Detection re-derives each token's green decision from the key and tests
// the count of green tokens with an exact binomial tail.
func ExampleDetector_Tokens() {
	var secret [watermark.SecretSize]byte // use watermark.LoadKey for a real key
	key := watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
	scheme, _ := watermark.NewKGW(key, watermark.DefaultKGW())

	// Watermarked "generation" from a toy model: 40 random candidates per step.
	rng := rand.New(rand.NewPCG(7, 7))
	tokens := []uint32{1, 2, 3, 4}
	ids, logits := make([]uint32, 40), make([]float32, 40)
	for len(tokens) < 200 {
		for i := range ids {
			ids[i], logits[i] = uint32(rng.IntN(200000)), float32(rng.NormFloat64())
		}
		next, _ := scheme.SampleLogits(tokens, ids, logits, rng)
		tokens = append(tokens, next)
	}

	d, _ := detect.New(scheme, detect.Options{})
	r := d.Tokens(tokens)
	fmt.Printf("detected=%v scored=%d green=%d log10_p=%.1f\n", r.Detected, r.Scored, r.Green, r.Log10P)
	// Output: detected=true scored=196 green=142 log10_p=-43.3
}

// Several keys (say, one per customer tier) are tested at once; Combine
// corrects for it with Holm's procedure and names the best key, by the one
// tie rule that detect, scan and merge share.
func ExampleCombine() {
	results := []detect.Result{
		{KeyID: "k1", Log10P: -0.2},
		{KeyID: "k2", Log10P: -9.5},
		{KeyID: "k3", Log10P: -0.9},
	}
	c := detect.Combine(results, 1e-6)
	fmt.Printf("best %s, adjusted log10 p %.2f, matched %v\n", c.KeyID, c.Log10P, c.MatchedKeys)
	// Output: best k2, adjusted log10 p -9.02, matched [k2]
}

// A recorded tally (from a merged scan, or an evidence file) is evaluated
// from the scheme's SPEC alone: the null model needs no key.
func ExampleEvaluate() {
	cfg, _ := watermark.ParseSpec(watermark.DefaultSpec)
	var t detect.Tally
	null := cfg.Null()
	for i := 0; i < 100; i++ {
		score := 0.0
		if i%2 == 0 { // half the tokens green, against γ = 0.25
			score = 1
		}
		t.Add(null, watermark.Observation{Score: score})
	}
	r := detect.Evaluate(cfg, "0123456789abcdef", &t, 0)
	fmt.Printf("%s: %d of %d green, log10 p %.2f\n", r.Test, r.Green, r.Scored, r.Log10P)
	// Output: binomial: 50 of 100 green, log10 p -7.18
}
