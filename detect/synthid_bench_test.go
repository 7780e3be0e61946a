package detect

import (
	"encoding/json"
	"math/rand/v2"
	"os"
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

// BenchmarkSynthIDDetection scores the same token IDs (200 kB of Newton's
// Opticks, in 500-token documents) with SynthID-Text (both
// implementations) and with tracemark's tournament and KGW detection,
// interleaved in one run, and reports ns per token of each and SynthID's
// ratio to each baseline.
func BenchmarkSynthIDDetection(b *testing.B) {
	docs := synthIDBenchDocs(b)
	rng := rand.New(rand.NewPCG(5, 5))
	specs := []string{"synthid", "synthid:impl=deepmind", "tournament:m=30,h=4", watermark.DefaultSpec}
	dets := make([]*Detector, len(specs))
	for i, spec := range specs {
		dets[i], _ = New(anyScheme(b, randomKey(rng), spec), Options{})
	}
	b.ReportAllocs()
	elapsed := make([]time.Duration, len(specs))
	for n := 0; n < b.N; n++ {
		for i, d := range dets {
			t0 := time.Now()
			for _, x := range docs {
				d.Tokens(x)
			}
			elapsed[i] += time.Since(t0)
		}
	}
	perToken := func(i int) float64 {
		return float64(elapsed[i].Nanoseconds()) / float64(b.N*len(docs)*500)
	}
	names := []string{"synthid-transformers", "synthid-deepmind", "tournament", "kgw"}
	for i := range specs {
		b.ReportMetric(perToken(i), names[i]+"-ns/token")
	}
	b.ReportMetric(perToken(0)/perToken(2), "transformers/tournament")
	b.ReportMetric(perToken(0)/perToken(3), "transformers/kgw")
	b.ReportMetric(perToken(1)/perToken(2), "deepmind/tournament")
	b.ReportMetric(perToken(1)/perToken(3), "deepmind/kgw")
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
