package benchmarks

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestSpansSection (not in -short runs) runs the spans section at quick size on stand-ins that
// cost nothing to build (random-token human documents, passages sampled
// from a toy model), then checks its tables: the null is not exceeded,
// the span test beats the whole-document test on diluted passages and
// finds where they are, and the report and plot are written and rebuilt
// from results.json.
func TestSpansSection(t *testing.T) {
	if testing.Short() {
		t.Skip("scans a few hundred documents of up to 20,000 tokens (about 10 s)")
	}
	ctx := context.Background()
	e := newEnv(ctx, Config{Seed: 3, Quick: true, SpanTests: 40})
	rng := rand.New(rand.NewPCG(4, 4))
	human := make([][]uint32, 3)
	for i := range human {
		human[i] = make([]uint32, 25000)
		for j := range human[i] {
			human[i][j] = uint32(rng.IntN(100000))
		}
	}
	e.human = func() (humanCorpora, error) {
		return humanCorpora{corpora: []Corpus{{Name: "random", Kind: "prose", docs: human}}}, nil
	}
	for _, spec := range spanPowerSpec {
		cfg, _ := watermark.ParseSpec(spec)
		p := &pool{spec: cfg.String()}
		for i := 0; i < 8; i++ {
			base, err := watermark.NewScheme(randomKey(rng, cfg), cfg)
			if err != nil {
				t.Fatal(err)
			}
			s, payload, err := watermark.RandomPayload(base, rng)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]uint32, 0, 300)
			cands, logits := make([]uint32, 40), make([]float32, 40)
			for len(ids) < 300 {
				for j := range cands {
					cands[j], logits[j] = uint32(rng.IntN(100000)), float32(2*rng.NormFloat64())
				}
				id, err := s.SampleLogits(ids, cands, logits, rng)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			p.comps = append(p.comps, completion{ids: ids, scheme: s, payload: payload})
		}
		e.pools[p.spec] = p
	}
	r, err := runSpans(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Null) != len(spanNullSchemes) {
		t.Fatalf("%d null rows", len(r.Null))
	}
	for _, row := range r.Null {
		// At most 4 of 40 at α = 0.01: a valid test exceeds that with
		// probability below 1e-4.
		if row.Tests != 40 || row.Cells[0].Count > 4 || row.Windows == 0 {
			t.Errorf("null %s: %+v", row.Spec, row)
		}
	}
	def, _ := watermark.ParseSpec(watermark.DefaultSpec)
	for _, c := range r.Power {
		if c.Spec == def.String() && c.Passage == 200 && c.Dilution >= 10 {
			if c.SpanTPR < 0.75 || c.GlobalTPR > c.SpanTPR || c.MedianIoU < 0.7 {
				t.Errorf("default scheme, 200 tokens at %d×: %+v", c.Dilution, c)
			}
		}
	}
	dir := t.TempDir()
	res := &Results{Tool: "test", Seed: 3, Quick: true, Spans: r}
	if err := WriteReport(dir, res); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, want := range []string{"Localized detection", "span TPR", "FPR@1e-05", "spans-tpr.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "spans-tpr.png")); err != nil {
		t.Error(err)
	}
	back, err := LoadResults(dir)
	if err != nil || back.Spans == nil || len(back.Spans.Power) != len(r.Power) {
		t.Fatalf("results.json: %v", err)
	}
}
