package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// BenchmarkDetect compares, on Newton's Opticks, tokenization alone with
// scoring alone and with both: detection's cost beside the tokenizer's.
// Throughput is reported per byte of text (MB/s) and per token.
func BenchmarkDetect(b *testing.B) {
	doc, err := corpora.Opticks()
	if err != nil {
		b.Skip(err)
	}
	text := doc.Text[:200000]
	tok, _ := tokenize.Get(tokenize.Default)
	ids, _ := tok.AppendEncode(nil, text)
	rng := rand.New(rand.NewPCG(1, 1))
	perToken := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/token")
	}
	b.Run("tokenize", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		var buf []uint32
		for i := 0; i < b.N; i++ {
			buf, _ = tok.AppendEncode(buf[:0], text)
		}
		perToken(b)
	})
	for _, spec := range []string{watermark.DefaultSpec, "kgw:h=4,seeding=lefthash", "kgw:payload_bits=32", "gumbel:h=4", "tournament:m=30,h=4"} {
		d, _ := New(anyScheme(b, randomKey(rng), spec), Options{})
		b.Run("score/"+spec, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			d.Tokens(ids)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.Tokens(ids)
			}
			perToken(b)
		})
		b.Run("tokenize+score/"+spec, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				d.Text(tok, text)
			}
			perToken(b)
		})
	}
}
