package detect

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// synthIDBenchDocs returns the first 200 kB of Newton's Opticks as
// 500-token documents.
func synthIDBenchDocs(t testing.TB) [][]uint32 {
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	tok, _ := tokenize.Get(tokenize.Default)
	ids, _ := tok.AppendEncode(nil, doc.Text[:200000])
	var docs [][]uint32
	for len(ids) >= 500 {
		docs, ids = append(docs, ids[:500]), ids[500:]
	}
	return docs
}

// synthIDBenchIDs returns the documents BenchmarkSynthIDDetection scores:
// those of the file named by TRACEMARK_BENCH_IDS (one JSON array per line,
// as benchmarks/synthid/reference_speed.py passes them, so that the
// reference and tracemark score the same IDs), else synthIDBenchDocs.
func synthIDBenchIDs(b testing.TB) [][]uint32 {
	if os.Getenv("TRACEMARK_BENCH_IDS") != "" {
		return engineBenchDocs(b)
	}
	return synthIDBenchDocs(b)
}

// BenchmarkSynthIDDetection times, on the same token IDs (200 kB of
// Newton's Opticks in 500-token documents, or TRACEMARK_BENCH_IDS) and
// interleaved in one run, SynthID-Text detection in both implementations
// (tracemark's evidence, Detector.Tokens: g-values, dedup, exact p-value;
// and SynthID's own scores, EngineDetect: its repetition mask, mean and
// weighted mean), with tracemark's tournament and KGW detection as
// baselines. It reports ns per token of each and SynthID's ratios to the
// baselines. Times are the benchmark thread's CPU time (Linux), each the
// fastest of b.N passes over all documents, as BenchmarkEngineDetection's:
// the cost per core on a shared machine.
func BenchmarkSynthIDDetection(b *testing.B) {
	docs := synthIDBenchIDs(b)
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
	for _, c := range []struct{ name, spec string }{
		{"synthid-transformers", "synthid"}, {"synthid-deepmind", "synthid:impl=deepmind"},
		{"tournament", "tournament:m=30,h=4"}, {"kgw", watermark.DefaultSpec},
	} {
		s := anyScheme(b, randomKey(rng), c.spec)
		d, err := New(s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, &run{name: c.name, f: func(x []uint32) { d.Tokens(x) }})
		if e, ok := s.(watermark.EngineDetector); ok {
			runs = append(runs, &run{name: c.name + "/engine", f: func(x []uint32) { e.EngineDetect(x) }})
		}
	}
	for _, r := range runs { // warm up: grow the buffers
		r.f(docs[0])
	}
	b.ReportAllocs()
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
	per := map[string]float64{}
	for _, r := range runs {
		per[r.name] = float64(r.t.Nanoseconds()) / float64(tokens)
		b.ReportMetric(per[r.name], r.name+"-ns/token")
	}
	for _, impl := range []string{"transformers", "deepmind"} {
		b.ReportMetric(per["synthid-"+impl]/per["tournament"], impl+"/tournament")
		b.ReportMetric(per["synthid-"+impl]/per["kgw"], impl+"/kgw")
	}
}

// TestWriteSynthIDBenchIDs writes the token IDs BenchmarkSynthIDDetection
// scores, one JSON array per line, to the file named by
// TRACEMARK_SYNTHID_IDS, for benchmarks/synthid/reference_speed.py; without
// it the test is skipped.
func TestWriteSynthIDBenchIDs(t *testing.T) {
	path := os.Getenv("TRACEMARK_SYNTHID_IDS")
	if path == "" {
		t.Skip("TRACEMARK_SYNTHID_IDS is not set")
	}
	var buf []byte
	for _, d := range synthIDBenchDocs(t) {
		line, _ := json.Marshal(d)
		buf = append(append(buf, line...), '\n')
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
