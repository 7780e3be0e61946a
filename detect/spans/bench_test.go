package spans

import (
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// BenchmarkSpans compares the span scan with plain detection on the same
// unmarked 5,000-token document, per scheme: the ratio of the two ns/op is
// the scan's cost (goal: at most 1.5).
//
//	go test -run '^$' -bench 'Spans' -benchmem ./detect/spans/
func BenchmarkSpans(b *testing.B) {
	for _, c := range []struct{ name, spec string }{
		{"kgw", watermark.DefaultSpec}, {"gumbel", "gumbel:h=4"}, {"tournament", "tournament:m=30,h=4"},
		{"synthid", "synthid"}, {"vllm-gumbel", "vllm-gumbel"}, {"payload", "kgw:payload_bits=32"},
		{"payload8", "kgw:payload_bits=8"}, {"payload16r16", "kgw:payload_bits=16,radix=16"},
	} {
		rng := rand.New(rand.NewPCG(1, 1))
		s := testScheme(b, rng, c.spec)
		ids := human(rng, 5000)
		d, _ := detect.New(s, detect.Options{})
		sc, _ := New(d, Options{})
		d.Tokens(ids)
		sc.Scan(ids, nil) // fills the caches (payload: slot moments)
		b.Run(c.name+"/plain", func(b *testing.B) {
			b.SetBytes(int64(len(ids)))
			for range b.N {
				d.Tokens(ids)
			}
		})
		b.Run(c.name+"/spans", func(b *testing.B) {
			b.SetBytes(int64(len(ids)))
			for range b.N {
				sc.Scan(ids, nil)
			}
		})
	}
}

// TestScanAllocations: in steady state a scan of an unmarked text
// allocates a bounded number of times, whatever its length (nothing per
// token).
func TestScanAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	s := testScheme(t, rng, watermark.DefaultSpec)
	sc := newScanner(t, s)
	for _, n := range []int{1000, 8000} {
		ids := human(rng, n)
		sc.Scan(ids, nil)
		if a := testing.AllocsPerRun(5, func() { sc.Scan(ids, nil) }); a > 8 {
			t.Errorf("%d tokens: %.0f allocations per scan", n, a)
		}
	}
}
