package generate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/watermark"
)

// cycleModel is a stand-in for a serving stack's model: it prefers the
// token after the last one, modulo 50.
type cycleModel struct{}

func (cycleModel) VocabSize() int { return 50 }

func (cycleModel) Logits(ctx []uint32, logits []float32) {
	next := 0
	if len(ctx) > 0 {
		next = int(ctx[len(ctx)-1]+1) % 50
	}
	for i := range logits {
		logits[i] = 0
	}
	logits[next] = 5
}

// A serving stack implements generate.Model; the sampler applies
// temperature, top-k and top-p, then the watermark, then draws.
func ExampleSampler() {
	var secret [watermark.SecretSize]byte // use watermark.LoadKey for a real key
	key := watermark.NewKey(secret, watermark.DefaultKGW(), "o200k_base", time.Time{})
	scheme, _ := watermark.NewKGW(key, watermark.DefaultKGW())

	sampler, err := generate.NewSampler(cycleModel{}, scheme, generate.Settings{Temperature: 1, TopK: 10, TopP: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the same seed gives the same tokens
	tokens, err := sampler.Generate(context.Background(), []uint32{1, 2, 3, 4}, 12, rng)
	fmt.Println(tokens, err)
	// Output: [5 6 7 8 9 10 11 12 7 8 9 2] <nil>
}
