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
