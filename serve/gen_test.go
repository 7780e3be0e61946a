package serve

import (
	"context"
	mrand "math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/generate"
)

// BenchmarkGenerate compares the server's generation loop (sampling plus
// incremental decoding and stop-sequence checks) with the sampler alone.
func BenchmarkGenerate(b *testing.B) {
	be := testBackend(b)
	mark := testScheme(b, "kgw")
	prompt, _ := be.Tokenizer().AppendEncode(nil, "It was the best of times")
	b.Run("sampler", func(b *testing.B) {
		s, _ := generate.NewSampler(be.NewModel(), mark, be.Settings())
		rng := mrand.New(mrand.NewPCG(1, 2))
		for i := 0; i < b.N; i++ {
			s.Generate(context.Background(), prompt, 200, rng)
		}
	})
	b.Run("server", func(b *testing.B) {
		g, _ := newGenerator(be, mark, be.Settings())
		rng := mrand.New(mrand.NewPCG(1, 2))
		for i := 0; i < b.N; i++ {
			g.run(context.Background(), prompt, 200, []string{"\u0000never"}, rng)
		}
	})
}
