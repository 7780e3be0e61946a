package detect

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tracemark/tracemark/watermark"
)

// engineBenchSpecs are the engine schemes BenchmarkEngineDetection times,
// KGW (tracemark's default) last as the baseline.
var engineBenchSpecs = []string{"vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash", "vllm-gumbel:prf=hmac-sha256", watermark.DefaultSpec}

// engineBenchDocs returns the token IDs BenchmarkEngineDetection scores:
// the file named by TRACEMARK_BENCH_IDS (one JSON array per line, as
// benchmarks/vllm_reference_speed.py writes it, so the reference and
// tracemark score the same IDs), else 5 documents of 20,000 random IDs
// below 200,000.
func engineBenchDocs(b testing.TB) [][]uint32 {
	if path := os.Getenv("TRACEMARK_BENCH_IDS"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var docs [][]uint32
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<26)
		for sc.Scan() {
			var d []uint32
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				b.Fatalf("%s: line %d: %v", path, len(docs)+1, err)
			}
			docs = append(docs, d)
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		return docs
	}
	rng := rand.New(rand.NewPCG(7, 7))
	docs := make([][]uint32, 5)
	for i := range docs {
		docs[i] = make([]uint32, 20000)
		for j := range docs[i] {
			docs[i][j] = uint32(rng.IntN(200000))
		}
	}
	return docs
}

// BenchmarkEngineDetection times, on the same token IDs and interleaved in
// one run, tracemark's detection (Detector.Tokens: observations, dedup,
// exact p-value) and the engine's own detector result (EngineDetect: vLLM's
// padding, context dedup and p-value) for each vLLM scheme, and KGW's
// Detector.Tokens as the baseline. It reports ns per token of each and
// each one's ratio to KGW. Times are the benchmark thread's CPU time
// (Linux), so that waiting for a core on a loaded machine is not counted:
// the cost per core, as the reference script measures vLLM's; each is the
// fastest of b.N passes over all documents, which filters out the
// interference of other processes on a shared machine.
func BenchmarkEngineDetection(b *testing.B) {
	docs := engineBenchDocs(b)
	tokens := 0
	for _, d := range docs {
		tokens += len(d)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	type run struct {
		name string
		f    func([]uint32)
		t    time.Duration
	}
	var runs []*run
	for _, spec := range engineBenchSpecs {
		s := anyScheme(b, randomKey(rng), spec)
		d, err := New(s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, &run{name: spec + "/tokens", f: func(x []uint32) { d.Tokens(x) }})
		if e, ok := s.(watermark.EngineDetector); ok {
			runs = append(runs, &run{name: spec + "/engine", f: func(x []uint32) { e.EngineDetect(x) }})
		}
	}
	for _, r := range runs { // warm up: grow the buffers
		r.f(docs[0])
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for _, r := range runs {
			t0 := threadCPU()
			for _, x := range docs {
				r.f(x)
			}
			if d := threadCPU() - t0; n == 0 || d < r.t {
				r.t = d
			}
		}
	}
	kgw := runs[len(runs)-1]
	per := func(r *run) float64 { return float64(r.t.Nanoseconds()) / float64(tokens) }
	for _, r := range runs {
		b.ReportMetric(per(r), r.name+"-ns/token")
		if r != kgw {
			b.ReportMetric(per(r)/per(kgw), r.name+"/kgw")
		}
	}
}

// TestEngineInstructions runs one detection path over the benchmark's
// token IDs a given number of times, for counting instructions under
// valgrind: TRACEMARK_INSTR_SPEC is the scheme (as engineBenchSpecs),
// TRACEMARK_INSTR_PATH "engine" (EngineDetect) or "tokens"
// (Detector.Tokens), TRACEMARK_INSTR_PASSES the number of passes. The
// instructions of 3 passes minus those of 1, divided by twice the tokens,
// are the instructions per token (docs/engines.md). It skips without the
// variables.
func TestEngineInstructions(t *testing.T) {
	spec, path := os.Getenv("TRACEMARK_INSTR_SPEC"), os.Getenv("TRACEMARK_INSTR_PATH")
	passes, err := strconv.Atoi(os.Getenv("TRACEMARK_INSTR_PASSES"))
	if spec == "" || err != nil {
		t.Skip("TRACEMARK_INSTR_SPEC, TRACEMARK_INSTR_PATH and TRACEMARK_INSTR_PASSES not set")
	}
	docs := engineBenchDocs(t)
	s := anyScheme(t, randomKey(rand.New(rand.NewPCG(5, 5))), spec)
	var f func([]uint32)
	switch path {
	case "engine":
		e, ok := s.(watermark.EngineDetector)
		if !ok {
			t.Fatalf("%s has no engine detector", spec)
		}
		f = func(x []uint32) { e.EngineDetect(x) }
	case "tokens":
		d, err := New(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f = func(x []uint32) { d.Tokens(x) }
	default:
		t.Fatalf("TRACEMARK_INSTR_PATH %q: want engine or tokens", path)
	}
	f(docs[0]) // grow the buffers outside the counted passes
	for range passes {
		for _, x := range docs {
			f(x)
		}
	}
}
