package spans_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/watermark"
)

// Example finds a 300-token watermarked passage inside 3,000 tokens of
// text written without the key.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	var secret [watermark.SecretSize]byte
	key := watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
	scheme, _ := watermark.NewScheme(key, watermark.DefaultKGW())
	ids := make([]uint32, 3000)
	for i := range ids {
		ids[i] = uint32(rng.IntN(100000))
	}
	// Tokens 1200..1499 are sampled with the watermark.
	cands, logits := make([]uint32, 40), make([]float32, 40)
	for i := 1200; i < 1500; i++ {
		for j := range cands {
			cands[j], logits[j] = uint32(rng.IntN(100000)), float32(2*rng.NormFloat64())
		}
		ids[i], _ = scheme.SampleLogits(ids[:i], cands, logits, rng)
	}
	d, _ := detect.New(scheme, detect.Options{})
	sc, _ := spans.New(d, spans.Options{})
	r := sc.Scan(ids, nil)
	fmt.Println("whole document detected:", r.GlobalLog10P <= -6)
	fmt.Println("span test detected:", r.Detected)
	for _, sp := range r.Spans {
		fmt.Printf("span near tokens %d-%d\n", (sp.TokenStart+50)/100*100, (sp.TokenEnd+50)/100*100)
	}
	// Output:
	// whole document detected: false
	// span test detected: true
	// span near tokens 1200-1500
}
