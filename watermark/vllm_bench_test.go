package watermark

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var vllmBenchSpecs = []string{"vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash", "vllm-gumbel:prf=hmac-sha256"}

func vllmBenchScheme(b testing.TB, spec string) Scheme {
	cfg, err := ParseSpec(spec)
	if err != nil {
		b.Fatal(err)
	}
	s, err := cfg.Bind(engineKey(b, 0x1234_5678_9abc_def0, cfg))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkVLLMObservations: detection throughput on token IDs
// (AppendObservations over 4096 tokens) of each vLLM scheme against
// tracemark's KGW (selfhash, h=4) in the same run; ratio > 1 is slower
// than KGW.
func BenchmarkVLLMObservations(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	tokens := make([]uint32, 4096)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(o200kVocab))
	}
	kgw := mustScheme(b, testKey(b, 4), DefaultSpec)
	var obsA, obsB []Observation
	for _, spec := range vllmBenchSpecs {
		s := vllmBenchScheme(b, spec)
		batch := 4
		if spec == "vllm-gumbel:prf=hmac-sha256" {
			batch = 1
		}
		b.Run("scheme="+spec, func(b *testing.B) {
			benchPair(b, batch,
				func(int) { obsA = kgw.AppendObservations(obsA[:0], tokens) },
				func(int) { obsB = s.AppendObservations(obsB[:0], tokens) })
			b.ReportMetric(float64(len(tokens)), "tokens/call")
		})
	}
}

// engineCandidateSpecs are the engine schemes BenchmarkEngineCandidates
// times: vLLM's (both PRFs for Gumbel) and SynthID-Text's (both
// implementations), at their defaults.
var engineCandidateSpecs = append(vllmBenchSpecs[:len(vllmBenchSpecs):len(vllmBenchSpecs)], "synthid", "synthid:impl=deepmind")

// BenchmarkEngineCandidates: embedding with k=40 candidates (after top-k)
// for each engine scheme against the plain sampler in the same run
// (benchPair: interleaved batches of 1000 calls, "ratio" is marked over
// plain), from logits and from probabilities. SynthID's key is a list of
// 30 words derived from a fixed seed, vLLM's one fixed word.
func BenchmarkEngineCandidates(b *testing.B) {
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
	for _, spec := range engineCandidateSpecs {
		var s Scheme
		if strings.HasPrefix(spec, "synthid") {
			s = mustScheme(b, testKey(b, 4), spec)
		} else {
			s = vllmBenchScheme(b, spec)
		}
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

// TestVLLMSchemesAllocateNothing: sampling and observations of the vLLM
// schemes allocate nothing per call (the HMAC state and the engine
// detector's dedup sets are pooled).
func TestVLLMSchemesAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	ids := make([]uint32, 40)
	logits := make([]float32, 40)
	for i := range ids {
		ids[i], logits[i] = uint32(rng.IntN(200000)), float32(rng.NormFloat64())
	}
	big := make([]float32, 2000)
	tokens := make([]uint32, 300)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(500))
	}
	obs := make([]Observation, 0, len(tokens))
	ctx := []uint32{1, 2, 3, 4, 5}
	for _, spec := range vllmBenchSpecs {
		s := vllmBenchScheme(t, spec)
		s.AppendObservations(obs[:0], tokens) // fill the HMAC pool
		for name, f := range map[string]func(){
			"SampleLogits k=40":  func() { s.SampleLogits(ctx, ids, logits, rng) },
			"SampleProbs k=40":   func() { s.SampleProbs(ctx, ids, logits, rng) },
			"SampleLogits 2000":  func() { s.SampleLogits(ctx, nil, big, rng) },
			"AppendObservations": func() { obs = s.AppendObservations(obs[:0], tokens) },
			"EngineDetect":       func() { s.(EngineDetector).EngineDetect(tokens) },
		} {
			if raceEnabled && strings.Contains(spec, "hmac") {
				continue // its per-goroutine state lives in a sync.Pool, which -race empties at random
			}
			if a := testing.AllocsPerRun(10, f); a != 0 {
				t.Errorf("%s %s: %v allocations", spec, name, a)
			}
		}
	}
}

// BenchmarkVLLMPhiloxVsSipHash: one Philox4x32-10 call (what vLLM's PRF
// spends per context and per token) against one SipHash-2-4 of a token's 4
// bytes (what KGW spends per token), interleaved in one run (ratio).
func BenchmarkVLLMPhiloxVsSipHash(b *testing.B) {
	k := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	var sum uint64
	benchPair(b, 1000,
		func(i int) { sum += k.hashToken(uint32(i)) },
		func(i int) { sum += uint64(philox4x32([4]uint32{uint32(i), 1, 2, 3}, 5, 6)[0]) })
	if sum == 1 {
		b.Log(sum)
	}
}

// BenchmarkVLLMBatchedPhiloxVsSipHash times Philox4x32-10 as the fast
// paths run it (philoxBatch.run, the widest kernel this machine has, per
// lane of full batches) against one SipHash-2-4 of a token, interleaved;
// "ratio" is Philox over SipHash.
func BenchmarkVLLMBatchedPhiloxVsSipHash(b *testing.B) {
	k := sipKey{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	var blk philoxBatch
	var sum uint64
	benchPair(b, 1024,
		func(i int) { sum += k.hashToken(uint32(i)) },
		func(i int) {
			if l := i % philoxBatchN; l == philoxBatchN-1 {
				blk.run(philoxBatchN)
				sum += uint64(blk.c[0][0])
			} else {
				blk.c[0][l], blk.k[0][l] = uint32(i), uint32(l)
			}
		})
	if sum == 1 {
		b.Log(sum)
	}
}
