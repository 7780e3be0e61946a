package detect

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// BenchmarkDetect compares, on prose (Newton's Opticks) and code (the Go
// source of net/http), 200 kB of each, tokenization alone with scoring
// alone and with both: detection's cost beside the tokenizer's.
// Throughput is reported per byte of text (MB/s) and per token.
func BenchmarkDetect(b *testing.B) {
	doc, err := refcorpus.Opticks()
	if err != nil {
		b.Skip(err)
	}
	code, err := refcorpus.GoSource("net/http")
	if err != nil {
		b.Skip(err)
	}
	var src strings.Builder
	for _, d := range code {
		src.WriteString(d.Text)
	}
	const size = 200000
	tok, _ := tokenize.Get(tokenize.Default)
	for _, c := range []struct{ name, text string }{{"prose", doc.Text[:size]}, {"code", src.String()[:min(size, src.Len())]}} {
		text := c.text
		ids, _ := tok.AppendEncode(nil, text)
		rng := rand.New(rand.NewPCG(1, 1))
		perToken := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/token")
		}
		b.Run("corpus="+c.name+"/op=tokenize", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			var buf []uint32
			for i := 0; i < b.N; i++ {
				buf, _ = tok.AppendEncode(buf[:0], text)
			}
			perToken(b)
		})
		for _, spec := range []string{watermark.DefaultSpec, "kgw:h=4,seeding=lefthash", "kgw:h=1,seeding=lefthash", "kgw:payload_bits=32", "gumbel:h=4", "tournament:m=30,h=4"} {
			d, _ := New(anyScheme(b, randomKey(rng), spec), Options{})
			b.Run("corpus="+c.name+"/op=score/scheme="+spec, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				d.Tokens(ids)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					d.Tokens(ids)
				}
				perToken(b)
			})
			b.Run("corpus="+c.name+"/op=tokenize+score/scheme="+spec, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					d.Text(tok, text)
				}
				perToken(b)
			})
		}
	}
}

// BenchmarkPooledAdd adds 4 M distinct tuples (8,000 documents of 500) to a
// pooled test, batched with warmed table slots (Pooled.Add) and one tuple
// at a time (TupleSet.Add, the same work without the warming), in the same
// run, and reports ns per tuple of each and their ratio.
func BenchmarkPooledAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	docs := make([][]watermark.Observation, pooledBenchDocs)
	for i := range docs {
		docs[i] = make([]watermark.Observation, 500)
		for j := range docs[i] {
			docs[i][j] = watermark.Observation{Tuple: watermark.Tuple{Seed: rng.Uint64(), Token: rng.Uint32()}, Score: float64(rng.IntN(2))}
		}
	}
	scheme, _ := watermark.NewKGW(watermark.NewKey([watermark.SecretSize]byte{1}, watermark.DefaultKGW(), "", time.Time{}), watermark.DefaultKGW())
	var batched, single time.Duration
	for i := 0; i < b.N; i++ {
		key := NewDedupKey()
		p, _ := NewPooled(scheme, key, Options{})
		t0 := time.Now()
		for _, d := range docs {
			p.Add(d)
		}
		batched += time.Since(t0)
		set := NewTupleSet(key, DefaultPooledExact, DefaultPooledBloom)
		var tally Tally
		null := scheme.Config().Null()
		t0 = time.Now()
		for _, d := range docs {
			for _, o := range d {
				if set.Add(o.Tuple) {
					tally.Add(null, o)
				}
			}
		}
		single += time.Since(t0)
		if p.Result().Scored != tally.N {
			b.Fatalf("batched counted %d tuples, one by one %d", p.Result().Scored, tally.N)
		}
	}
	n := float64(b.N * pooledBenchDocs * 500)
	b.ReportMetric(float64(batched.Nanoseconds())/n, "batched-ns/tuple")
	b.ReportMetric(float64(single.Nanoseconds())/n, "single-ns/tuple")
	b.ReportMetric(float64(single)/float64(batched), "speedup")
}

// pooledBenchDocs is the number of 500-tuple documents of BenchmarkPooledAdd.
const pooledBenchDocs = 8000

// BenchmarkTupleSetLookup measures a batched lookup (slots warmed 32 at a
// time, as Pooled.Add does) in exact tables of 2 to 64 MiB filled to 5/8:
// the pooled test's cost per tuple is set by where its table lives in the
// memory hierarchy, so it grows with the corpus's distinct tuples.
func BenchmarkTupleSetLookup(b *testing.B) {
	for _, logSlots := range []uint{18, 20, 21, 22, 23} {
		s := NewTupleSet(NewDedupKey(), 1<<30, 0)
		n := uint64(1) << logSlots * 5 / 8
		for i := uint64(1); i <= n; i++ {
			s.addFingerprint(mix(i) | 1)
		}
		if len(s.table) != 1<<logSlots {
			b.Fatalf("%d slots, want %d", len(s.table), 1<<logSlots)
		}
		b.Run(fmt.Sprintf("table=%dMiB", 8<<logSlots>>20), func(b *testing.B) {
			var fps [32]uint64
			hits := 0
			for i := 0; i < b.N; i += 32 {
				for j := range fps {
					fps[j] = mix(mix(uint64(i+j))%(2*n)+1) | 1 // half present, half absent
				}
				s.warm(fps[:])
				for _, fp := range fps {
					if s.lookup(fp) {
						hits++
					}
				}
			}
			if b.N >= 1<<16 && (hits < b.N/4 || hits > 3*b.N/4) {
				b.Fatalf("%d hits of %d lookups", hits, b.N)
			}
		})
	}
}
