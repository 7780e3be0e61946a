package generate

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tracemark/tracemark/watermark"
)

// BenchmarkGenerate measures tokens per second with the built-in model and
// default settings, unwatermarked against watermarked, in one run. Both
// samplers draw the next token after the same 200 contexts (prefixes of one
// completion), so the model does the same work and the ratio isolates the
// watermark's cost; a free-running watermarked completion would take other
// paths through the model and time its text, not the watermark.
func BenchmarkGenerate(b *testing.B) {
	m := builtinModel(b)
	prompt := []uint32{976, 6286, 382, 261}
	base, _ := NewSampler(m.NewSession(), nil, DefaultSettings())
	completion, err := base.Generate(context.Background(), prompt, 200, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		b.Fatal(err)
	}
	seq := append(append([]uint32{}, prompt...), completion...)
	for _, spec := range []string{watermark.DefaultSpec, "kgw:h=4,seeding=lefthash", "kgw:h=1,seeding=lefthash", "kgw:payload_bits=32", "gumbel:h=4", "tournament:m=30,h=4"} {
		c, err := watermark.ParseSpec(spec)
		if err != nil {
			b.Fatal(err)
		}
		scheme, err := watermark.NewScheme(testKey(3), c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("scheme="+spec, func(b *testing.B) {
			plain, _ := NewSampler(m.NewSession(), nil, DefaultSettings())
			marked, _ := NewSampler(m.NewSession(), scheme, DefaultSettings())
			rng := rand.New(rand.NewPCG(1, 2))
			run := func(s *Sampler) time.Duration {
				t0 := time.Now()
				for i := len(prompt); i < len(seq); i++ {
					if _, err := s.Next(seq[:i], rng); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(t0)
			}
			b.ReportAllocs()
			var tp, tm time.Duration
			for i := 0; i < b.N; i++ {
				tp += run(plain)
				tm += run(marked)
			}
			tokens := float64(len(completion) * b.N)
			b.ReportMetric(tokens/tp.Seconds(), "plain-tok/s")
			b.ReportMetric(tokens/tm.Seconds(), "marked-tok/s")
			b.ReportMetric(tm.Seconds()/tp.Seconds(), "time-ratio")
		})
	}
}
