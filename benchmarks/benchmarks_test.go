package benchmarks

import (
	"context"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/internal/templated"
)

// binomialCDFBig returns P(X <= k) for X ~ Binomial(n, p) by exact rational
// summation (p is converted exactly), as an independent check.
func binomialCDFBig(k, n int, p float64) float64 {
	pr := new(big.Rat).SetFloat64(p)
	q := new(big.Rat).Sub(big.NewRat(1, 1), pr)
	sum := new(big.Rat)
	for i := 0; i <= k; i++ {
		term := new(big.Rat).SetInt(new(big.Int).Binomial(int64(n), int64(i)))
		for j := 0; j < i; j++ {
			term.Mul(term, pr)
		}
		for j := 0; j < n-i; j++ {
			term.Mul(term, q)
		}
		sum.Add(sum, term)
	}
	f, _ := sum.Float64()
	return f
}

func TestClopperPearson(t *testing.T) {
	// Closed forms at the edges: k = 0 gives hi = 1 - (alpha/2)^(1/n).
	lo, hi := clopperPearson(0, 10, 0.05)
	if lo != 0 || math.Abs(hi-(1-math.Pow(0.025, 0.1))) > 1e-9 {
		t.Errorf("k=0 n=10: [%v, %v], want [0, %v]", lo, hi, 1-math.Pow(0.025, 0.1))
	}
	lo, hi = clopperPearson(10, 10, 0.05)
	if hi != 1 || math.Abs(lo-math.Pow(0.025, 0.1)) > 1e-9 {
		t.Errorf("k=n=10: [%v, %v]", lo, hi)
	}
	// Published value: 5 of 10 gives [0.1871, 0.8129].
	lo, hi = clopperPearson(5, 10, 0.05)
	if math.Abs(lo-0.18709) > 1e-4 || math.Abs(hi-0.81291) > 1e-4 {
		t.Errorf("5/10: [%v, %v], want [0.18709, 0.81291]", lo, hi)
	}
	// The defining equations, checked by exact summation.
	for _, c := range [][2]int{{1, 50}, {3, 120}, {17, 150}, {0, 150}} {
		k, n := c[0], c[1]
		lo, hi := clopperPearson(k, n, 0.05)
		if k > 0 {
			if got := 1 - binomialCDFBig(k-1, n, lo); math.Abs(got-0.025) > 1e-6 {
				t.Errorf("%d/%d: P(X >= k | lo=%v) = %v, want 0.025", k, n, lo, got)
			}
		}
		if got := binomialCDFBig(k, n, hi); math.Abs(got-0.025) > 1e-6 {
			t.Errorf("%d/%d: P(X <= k | hi=%v) = %v, want 0.025", k, n, hi, got)
		}
		if !(lo <= float64(k)/float64(n) && float64(k)/float64(n) <= hi) {
			t.Errorf("%d/%d: interval [%v, %v] misses the estimate", k, n, lo, hi)
		}
	}
	// Exact closed forms for other sizes and levels: k = 0 gives
	// hi = 1 - (alpha/2)^(1/n) and k = n gives lo = (alpha/2)^(1/n).
	for _, c := range []struct {
		n     int
		alpha float64
	}{{1, 0.05}, {10, 0.01}, {37, 0.1}, {1000, 0.05}} {
		want := math.Pow(c.alpha/2, 1/float64(c.n))
		lo, hi := clopperPearson(0, c.n, c.alpha)
		if lo != 0 || math.Abs(hi-(1-want)) > 1e-12 {
			t.Errorf("k=0 n=%d alpha=%v: [%v, %v], want [0, %v]", c.n, c.alpha, lo, hi, 1-want)
		}
		lo, hi = clopperPearson(c.n, c.n, c.alpha)
		if hi != 1 || math.Abs(lo-want) > 1e-12 {
			t.Errorf("k=n=%d alpha=%v: [%v, %v], want [%v, 1]", c.n, c.alpha, lo, hi, want)
		}
	}
	// Impossible counts.
	for _, c := range [][2]int{{-1, 10}, {11, 10}, {0, 0}} {
		if lo, hi := clopperPearson(c[0], c[1], 0.05); !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("%d/%d: [%v, %v], want NaNs", c[0], c[1], lo, hi)
		}
	}
	// 3 false accusations in a million tests is consistent with a nominal
	// rate of 1e-6.
	if lo, hi := clopperPearson(3, 1_000_000, 0.05); math.Abs(lo/6.187e-7-1) > 1e-3 || math.Abs(hi/8.767e-6-1) > 1e-3 {
		t.Errorf("3/1e6: [%v, %v], want [6.19e-07, 8.77e-06]", lo, hi)
	}
	// Tiny rates keep relative precision: 1 in 10^6.
	lo, hi = clopperPearson(1, 1_000_000, 0.05)
	if math.Abs(lo/2.5317e-8-1) > 1e-3 || math.Abs(hi/5.5716e-6-1) > 1e-3 {
		t.Errorf("1/1e6: [%v, %v], want [2.5317e-8, 5.5716e-6]", lo, hi)
	}
}

func TestDistinctN(t *testing.T) {
	ids := []uint32{1, 2, 1, 2, 1, 2}
	if d := distinctN(ids, 1); d != 2.0/6 {
		t.Errorf("distinct-1 = %v, want 1/3", d)
	}
	if d := distinctN(ids, 2); d != 2.0/5 {
		t.Errorf("distinct-2 = %v, want 2/5", d)
	}
	if d := distinctN([]uint32{1, 2, 3, 4}, 3); d != 1 {
		t.Errorf("distinct-3 of a non-repeating text = %v, want 1", d)
	}
	if d := distinctN([]uint32{1}, 2); !math.IsNaN(d) {
		t.Errorf("distinct-2 of one token = %v, want NaN", d)
	}
	// Token IDs that differ only above the low byte are different tokens.
	if d := distinctN([]uint32{1, 257, 65537}, 1); d != 1 {
		t.Errorf("distinct-1 = %v, want 1", d)
	}
}

func TestQuantileAndMean(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for q, want := range map[float64]float64{0: 1, 0.2: 1, 0.21: 2, 0.5: 3, 0.9: 5, 1: 5} {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v (nearest rank)", q, got, want)
		}
	}
	if xs[0] != 5 {
		t.Error("quantile sorted its input")
	}
	if got := mean(xs); got != 3 {
		t.Errorf("mean = %v, want 3", got)
	}
	if !math.IsNaN(quantile(nil, 0.5)) || !math.IsNaN(mean(nil)) {
		t.Error("empty sample: want NaN")
	}
	// A text that loops has few distinct bigrams.
	if d := distinctN([]uint32{7, 8, 9, 7, 8, 9, 7, 8, 9}, 2); math.Abs(d-3.0/8) > 1e-12 {
		t.Errorf("distinct-2 of a loop = %v, want 3/8", d)
	}
}

func TestQuantilesAndQQ(t *testing.T) {
	if q := censoredQuantile([]int{10, 20, -1, 40}, 0.5); q != 20 {
		t.Errorf("median = %d, want 20", q)
	}
	if q := censoredQuantile([]int{10, -1, -1, 40}, 0.9); q != -1 {
		t.Errorf("p90 with half undetected = %d, want -1", q)
	}
	var lp []float64
	for i := 1; i <= 100000; i++ {
		lp = append(lp, math.Log10(float64(i)/100001))
	}
	pts := qqPoints(lp)
	if len(pts) > 600 {
		t.Errorf("%d QQ points for 1e5 values, want a thinned set", len(pts))
	}
	for i, p := range pts {
		if math.Abs(p.Expected-p.Observed) > 1e-4 {
			t.Fatalf("point %d of an exactly uniform sample is off the diagonal: %+v", i, p)
		}
		if i > 0 && p.Expected <= pts[i-1].Expected {
			t.Fatalf("QQ points not increasing at %d", i)
		}
	}
	if last := pts[len(pts)-1]; math.Abs(last.Observed-lp[len(lp)-1]) > 1e-4 {
		t.Errorf("largest p-value dropped")
	}
}

func TestShortSpec(t *testing.T) {
	for spec, want := range map[string]string{
		"kgw:gamma=0.25,delta=2,h=4,seeding=selfhash": "kgw δ2 h4 self",
		"kgw:payload_bits=32":                         "kgw payload32 δ2 h4 self",
		"gumbel:h=4":                                  "gumbel h4",
		"tournament:m=30,h=1":                         "tournament m30 h1",
		"kgw:gamma=0.5,delta=1,h=1,seeding=lefthash":  "kgw δ1 h1 left γ0.5",
	} {
		if got := shortSpec(spec); got != want {
			t.Errorf("shortSpec(%q) = %q, want %q", spec, got, want)
		}
	}
}

// TestQuickRun runs every section at smoke-test size and checks what the
// numbers must show even then: human text is not flagged with dedup on,
// repeated code with dedup off is; watermarked completions are detected;
// the distilled student trained on teacher text only is detected and the
// human-only student is not; and the report and plots are written and can
// be rebuilt from results.json.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built-in model and every section (about 15 s)")
	}
	ctx := context.Background()
	e := newEnv(context.Background(), Config{Seed: 7, Quick: true})
	r := &Results{Tool: "test", Seed: 7, Quick: true, Machine: detectMachine()}
	var err error
	if r.FPR, err = runFPR(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.FPR.Schemes {
		if s.Tests < 5000 {
			t.Errorf("%s: %d tests", s.describe(), s.Tests)
		}
		if s.Dedup && s.Cells[0].Exceeds {
			t.Errorf("%s: false-positive rate %v at α = 0.01 exceeds it beyond sampling error", s.describe(), s.Cells[0].Rate)
		}
	}
	// A run restricted to some schemes (bench fpr --scheme) gives exactly
	// their rows of the full run (the same keys) and no fixed-key part.
	part, err := runFPR(ctx, newEnv(ctx, Config{Seed: 7, Quick: true, Schemes: []string{"vllm-sbw", "synthid:impl=deepmind"}}))
	if err != nil {
		t.Fatal(err)
	}
	var want []FPRScheme
	for _, s := range r.FPR.Schemes {
		if strings.HasPrefix(s.Spec, "vllm-sbw:") || strings.HasPrefix(s.Spec, "synthid:") && strings.Contains(s.Spec, "impl=deepmind") {
			want = append(want, s)
		}
	}
	if len(part.Schemes) != 6 || len(want) != 6 || part.FixedKey != nil || part.FixedKeyPower != nil {
		t.Fatalf("restricted run: %d rows (want %d of 6), fixed key %v", len(part.Schemes), len(want), part.FixedKey != nil)
	}
	for i, s := range part.Schemes {
		if s.Spec != want[i].Spec || s.Dedup != want[i].Dedup || !reflect.DeepEqual(s.Cells, want[i].Cells) {
			t.Errorf("restricted row %d: %s %v %+v, full run %s %v %+v", i, s.Spec, s.Dedup, s.Cells, want[i].Spec, want[i].Dedup, want[i].Cells)
		}
	}
	payloadOff := r.FPR.Schemes[2*len(defaultSchemes)-1] // the last default scheme, dedup off
	if payloadOff.Dedup || !payloadOff.Cells[2].Exceeds {
		t.Errorf("%s: expected the repeated-tuple false positives that dedup prevents, got %+v", payloadOff.describe(), payloadOff.Cells[2])
	}
	// The fixed-key section: every templated and human corpus, 200 keys;
	// corpus mode binomial on templated text, document mode not.
	if len(r.FPR.FixedKey) != len(templated.Kinds())+len(r.FPR.Corpora) {
		t.Errorf("fixed-key rows: %d", len(r.FPR.FixedKey))
	}
	for _, row := range r.FPR.FixedKey {
		if row.Keys < 200 {
			t.Errorf("%s: %d fixed keys", row.Corpus, row.Keys)
		}
		if row.Corpus == "templated letters" && (row.CorpusMode.Ratio > 1.5 || row.Document.Ratio < 3) {
			t.Errorf("%s: variance ratios %.2f (document), %.2f (corpus)", row.Corpus, row.Document.Ratio, row.CorpusMode.Ratio)
		}
	}
	if p := r.FPR.FixedKeyPower; p == nil || p.TPRDocument < 0.9 || p.FPDocument+p.FPCorpus != 0 || p.MeanScoredCorpus > p.MeanScoredDocument {
		t.Errorf("fixed-key power: %+v", p)
	}
	if r.Power, err = runPower(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Power.Settings {
		full := s.TPR[1][len(powerLengths)-1]
		switch {
		case s.Spec == unwatermarked && full != 0:
			t.Errorf("unwatermarked text detected at 1e-6 in %.2f of completions", full)
		case s.Spec == "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash" && (s.Median < 0 || s.Median > 250):
			t.Errorf("default scheme: median tokens to detection %d", s.Median)
		}
	}
	if r.Robustness, err = runRobustness(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Robustness.Schemes {
		if none := s.tpr("none", 0, 0); none < 0.75 {
			t.Errorf("%s: TPR %v without attack at 200 tokens", s.Spec, none)
		}
		if cp := s.tpr("copy-paste", 0.9, 0); cp > 0.5 {
			t.Errorf("%s: TPR %v with 90%% human text at 200 tokens", s.Spec, cp)
		}
	}
	if r.Quality, err = runQuality(ctx, e); err != nil {
		t.Fatal(err)
	}
	if base, strong := r.Quality.Settings[0], r.Quality.Settings[3]; !(strong.GeneratorMedian > base.GeneratorMedian) {
		t.Errorf("δ=4 perplexity %v not above unwatermarked %v", strong.GeneratorMedian, base.GeneratorMedian)
	}
	if r.Distill, err = runDistill(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Distill.Schemes {
		last := len(r.Distill.Checkpoints) - 1
		if p0 := s.Rows[0].Median[last]; p0 < -3 {
			t.Errorf("%s: human-only student gives log10 p %v", s.Spec, p0)
		}
		if p1 := s.Rows[len(s.Rows)-1].Median[last]; p1 > -5 {
			t.Errorf("%s: student of the teacher alone gives log10 p %v", s.Spec, p1)
		}
	}
	for _, s := range r.Distill.Schemes {
		for c, p := range s.Null.KSP {
			if p < 1e-4 {
				t.Errorf("%s: x=0 student p-values not uniform over keys after %d tokens: KS p = %v", s.Spec, r.Distill.Checkpoints[c], p)
			}
		}
	}
	if r.Speed, err = runSpeed(ctx, e); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"One fixed key over a corpus", "Power in a mixed corpus", "## 1. False-positive rate", "## 2. Power", "## 3. Robustness", "## 4. Quality", "## 5. Distillation", "## 6. Speed", "fpr-qq-dedup.png", "distill-fraction.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// A quick report says how to reproduce it, and lists TPR only at
	// lengths its completions reach.
	if !strings.Contains(string(md), "bench all --quick --seed") {
		t.Error("quick report's reproduce line lacks --quick")
	}
	if r.Power != nil && r.Power.Length < 800 && strings.Contains(string(md), "L=800") {
		t.Errorf("quick report lists TPR at L=800 for %d-token completions", r.Power.Length)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(pngs) < 8 {
		t.Errorf("%d plots written", len(pngs))
	}
	// The report can be rebuilt from results.json alone.
	back, err := LoadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	if err := WriteReport(dir2, back); err != nil {
		t.Fatal(err)
	}
	md2, _ := os.ReadFile(filepath.Join(dir2, ReportFile))
	strip := func(s string) string { // the "written" time differs
		_, rest, _ := strings.Cut(s, "**Setup.**")
		return rest
	}
	if strip(string(md)) != strip(string(md2)) {
		t.Error("report rebuilt from results.json differs")
	}
}

// TestCorporaWithoutNPM: without npm (and no cached tarball) the Brown
// corpus is reported missing and the other corpora still load.
func TestCorporaWithoutNPM(t *testing.T) {
	if testing.Short() {
		t.Skip("tokenizes two corpora")
	}
	root, err := refcorpus.GoRoot()
	if err != nil {
		t.Skip(err)
	}
	t.Setenv("GOROOT", root)
	t.Setenv("PATH", t.TempDir())
	e := newEnv(context.Background(), Config{Seed: 1, Quick: true, CacheDir: t.TempDir()})
	cs, missing, err := e.corpora()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || corpusNamed(cs, "gutenberg") == nil || corpusNamed(cs, "go") == nil {
		t.Errorf("corpora %v", cs)
	}
	if len(missing) != 1 || !strings.Contains(missing[0], "brown") || !strings.Contains(missing[0], "npm") {
		t.Errorf("missing %q", missing)
	}
}

// TestFixedKeyStats checks the variance summary against hand-computed
// values: counts 1, 3, 5 of 100 documents have mean 3, sample variance 4,
// binomial variance 100·0.03·0.97 = 2.91.
func TestFixedKeyStats(t *testing.T) {
	s := fixedKeyStats([]int{1, 3, 5}, 100)
	if s.MeanFlagged != 3 || s.MaxFlagged != 5 || s.Variance != 4 || math.Abs(s.BinomialVariance-2.91) > 1e-12 || math.Abs(s.Ratio-4/2.91) > 1e-12 {
		t.Errorf("%+v", s)
	}
	if z := fixedKeyStats([]int{0, 0}, 10); z.Ratio != 0 || z.BinomialVariance != 0 || fmtRatio(z) != "–" {
		t.Errorf("nothing flagged: %+v", z)
	}
}
