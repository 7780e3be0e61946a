package watermark

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tracemark/tracemark/internal/threadcpu"
)

// benchPair times a baseline and a watermarked variant of the same work,
// interleaved in batches inside one benchmark, and reports both times per
// call and their ratio, so the overhead is read from one run on one machine.
// Times are the benchmark thread's CPU time (threadcpu.Now: wall time
// outside Linux), so that the time the thread waits for a core on a loaded
// machine is not counted.
func benchPair(b *testing.B, batch int, baseline, marked func(i int)) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadcpu.Now
	var tBase, tMarked time.Duration
	calls := 0
	for n := 0; n < b.N; n++ {
		t0 := clock()
		for i := 0; i < batch; i++ {
			baseline(calls + i)
		}
		t1 := clock()
		for i := 0; i < batch; i++ {
			marked(calls + i)
		}
		tMarked += clock() - t1
		tBase += t1 - t0
		calls += batch
	}
	base := float64(tBase.Nanoseconds()) / float64(calls)
	mark := float64(tMarked.Nanoseconds()) / float64(calls)
	b.ReportMetric(base, "base-ns/call")
	b.ReportMetric(mark, "marked-ns/call")
	b.ReportMetric(mark/base, "ratio")
}

func benchLogits(n int, rng *rand.Rand) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * 3)
	}
	return l
}

var benchSpecs = []string{DefaultSpec, "kgw:h=4,seeding=lefthash", "kgw:h=1,seeding=lefthash"}

// BenchmarkFullVocab: one draw from o200k's 200,019 logits (ids == nil),
// plain softmax sampling (baseline) against each scheme's marked draw
// (method=sample: SampleLogits) and, for schemes that bias logits, against
// BiasLogits followed by the same plain sampler (method=bias+sample).
func BenchmarkFullVocab(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := benchLogits(o200kVocab, rng)
	work := make([]float32, len(logits))
	ctx := []uint32{101, 2002, 30003, 4004, 55}
	for _, spec := range append(benchSpecs, "kgw:payload_bits=32", "gumbel:h=4", "tournament:m=30,h=4", "synthid", "synthid:impl=deepmind") {
		s := mustScheme(b, testKey(b, 4), spec)
		b.Run("method=sample/scheme="+spec, func(b *testing.B) {
			// Each call starts from a fresh copy of the logits on both
			// sides alike.
			benchPair(b, 1,
				func(int) { copy(work, logits); SampleLogitsUnmarked(nil, work, rng) },
				func(i int) { copy(work, logits); ctx[0] = uint32(i); s.SampleLogits(ctx, nil, work, rng) })
		})
		k, ok := s.(interface {
			BiasLogits(ctx []uint32, logits []float32)
		})
		if !ok {
			continue
		}
		b.Run("method=bias+sample/scheme="+spec, func(b *testing.B) {
			benchPair(b, 1,
				func(int) { copy(work, logits); SampleLogitsUnmarked(nil, work, rng) },
				func(i int) {
					// Vary the context so every call biases a new green
					// list.
					copy(work, logits)
					ctx[0] = uint32(i)
					k.BiasLogits(ctx, work)
					SampleLogitsUnmarked(nil, work, rng)
				})
		})
	}
}

// BenchmarkBiasLogits is BiasLogits alone, per vocabulary entry.
func BenchmarkBiasLogits(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := benchLogits(o200kVocab, rng)
	ctx := []uint32{101, 2002, 30003, 4004, 55}
	for _, spec := range benchSpecs {
		s := mustKGW(b, testKey(b, 4), spec)
		b.Run("scheme="+spec, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ctx[0] = uint32(i)
				s.BiasLogits(ctx, logits)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/o200kVocab, "ns/entry")
		})
	}
}

// BenchmarkCandidates: sampling from k=40 candidates (after top-k) with
// every scheme, against the plain sampler in the same run (ratio).
func BenchmarkCandidates(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const k = 40
	ids := make([]uint32, k)
	for i := range ids {
		ids[i] = uint32(rng.IntN(o200kVocab))
	}
	logits := benchLogits(k, rng)
	probs := make([]float32, k)
	for i := range probs {
		probs[i] = float32(math.Exp(float64(logits[i])))
	}
	ctx := []uint32{101, 2002, 30003, 4004, 55}
	for _, spec := range append(benchSpecs, "kgw:payload_bits=32", "gumbel:h=4", "tournament:m=30,h=4", "synthid", "synthid:impl=deepmind") {
		s := mustScheme(b, testKey(b, 4), spec)
		b.Run("input=logits/scheme="+spec, func(b *testing.B) {
			benchPair(b, 1000,
				func(int) { SampleLogitsUnmarked(ids, logits, rng) },
				func(i int) { ctx[0] = uint32(i); s.SampleLogits(ctx, ids, logits, rng) })
		})
		b.Run("input=probs/scheme="+spec, func(b *testing.B) {
			benchPair(b, 1000,
				func(int) { SampleProbsUnmarked(ids, probs, rng) },
				func(i int) { ctx[0] = uint32(i); s.SampleProbs(ctx, ids, probs, rng) })
		})
	}
}

// BenchmarkHashToken is the keyed hash selfhash detection computes once per
// token: SipHash-2-4 of the token ID's 4 bytes.
func BenchmarkHashToken(b *testing.B) {
	b.ReportAllocs()
	k := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	var sum uint64
	for i := 0; i < b.N; i++ {
		sum += k.hashToken(uint32(i))
	}
	if sum == 42 { // keeps the loop from being optimized away
		b.Log(sum)
	}
}
