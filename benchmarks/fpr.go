package benchmarks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// defaultSchemes are the schemes every section covers: KGW with the default
// selfhash h=4 context, KGW with the original lefthash h=1, Gumbel-max,
// the SynthID-style tournament and KGW carrying a 32-bit payload.
var defaultSchemes = []string{
	watermark.DefaultSpec,
	"kgw:gamma=0.25,delta=2,h=1,seeding=lefthash",
	"gumbel:h=4",
	"tournament:m=30,h=4",
	"kgw:payload_bits=32",
}

// engineSchemes are the serving engines' schemes (vLLM's and SynthID-Text's
// defaults, both SynthID implementations) that the null benchmark also
// covers, under random engine keys.
var engineSchemes = []string{"vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash", "synthid", "synthid:impl=deepmind"}

// fprLengths are the document lengths (tokens) of the null benchmark, and
// fprShare the fraction of the tests spent on each.
var (
	fprLengths = []int{50, 200, 1000}
	fprShare   = []float64{0.5, 0.35, 0.15}
)

// fprAlphas are the nominal levels of the false-positive table.
var fprAlphas = []float64{1e-2, 1e-3, 1e-4, 1e-5, 1e-6}

// FPRResult is the null benchmark: human text under many random keys.
type FPRResult struct {
	Corpora  []Corpus     `json:"corpora"`
	Missing  []string     `json:"missing_corpora,omitempty"`
	Lengths  []int        `json:"lengths"`
	Alphas   []float64    `json:"alphas"`
	Schemes  []FPRScheme  `json:"schemes"`
	Seconds  float64      `json:"seconds"`
	Worst    FPRWorstCell `json:"worst"`
	KeysEach string       `json:"keys"`
	// FixedKey is the flagged-count variance under fixed keys, per corpus,
	// in both document dedup modes.
	FixedKey []FixedKeyRow `json:"fixed_key,omitempty"`
	// FixedKeyPower is the per-document power in a mixed corpus under one
	// key, in both modes.
	FixedKeyPower *FixedKeyPower `json:"fixed_key_power,omitempty"`
}

// FPRScheme is one scheme with dedup on or off.
type FPRScheme struct {
	Spec   string     `json:"scheme"`
	Dedup  bool       `json:"dedup"`
	Tests  int        `json:"tests"`
	Cells  []FPRCell  `json:"cells"`  // one per alpha, all corpora and lengths
	Groups []FPRGroup `json:"groups"` // per corpus and length
	// Payload schemes: the same table for the payload p-value (the claim
	// that a specific customer ID is present).
	PayloadCells []FPRCell `json:"payload_cells,omitempty"`
	// QQ holds log10 p-value quantiles at log-spaced probabilities, enough
	// to redraw the QQ plot.
	QQ []QQPoint `json:"qq"`

	log10p []float64
}

// QQPoint is one point of a QQ plot: the log10 of the expected and of the
// observed p-value at the same rank.
type QQPoint struct {
	Expected float64 `json:"log10_expected"`
	Observed float64 `json:"log10_observed"`
}

// FPRCell is the empirical false-positive rate at one nominal level.
type FPRCell struct {
	Alpha float64 `json:"alpha"`
	Tests int     `json:"tests"`
	Count int     `json:"false_positives"`
	Rate  float64 `json:"rate"`
	Lo    float64 `json:"ci95_lo"` // Clopper–Pearson
	Hi    float64 `json:"ci95_hi"`
	// Exceeds is true when the interval lies wholly above alpha: the
	// empirical rate exceeds the nominal one beyond sampling error.
	Exceeds bool `json:"exceeds"`
}

// FPRGroup is the false-positive count of one corpus and length.
type FPRGroup struct {
	Corpus string    `json:"corpus"`
	Length int       `json:"length"`
	Docs   int       `json:"documents"`
	Tests  int       `json:"tests"`
	Cells  []FPRCell `json:"cells"`
}

// FPRWorstCell is the largest ratio of empirical to nominal rate over the
// deduplicated rows, where at least 1/alpha tests make the ratio meaningful.
type FPRWorstCell struct {
	Spec  string  `json:"scheme"`
	Alpha float64 `json:"alpha"`
	Ratio float64 `json:"ratio"`
}

// fprTarget is the number of (document, key) tests per scheme and dedup
// setting.
func (c Config) fprTarget() int { return c.scale(2_100_000, 6_000) }

// runFPR scores human text (prose and code cut into 50-, 200- and
// 1000-token documents) under a fresh random key per (document, key) test,
// for every scheme with dedup on and off, and tabulates the fraction of
// p-values below each nominal alpha with exact 95% intervals.
func runFPR(ctx context.Context, e *env) (*FPRResult, error) {
	start := time.Now()
	cs, missing, err := e.corpora()
	if err != nil {
		return nil, err
	}
	res := &FPRResult{Corpora: cs, Missing: missing, Lengths: fprLengths, Alphas: fprAlphas,
		KeysEach: "a fresh random key for every (document, key) test; dedup on and off use the same keys"}
	target := e.cfg.fprTarget()
	type group struct {
		corpus string
		length int
		docs   [][]uint32
		tests  int
		perm   []int
	}
	var groups []group
	for li, L := range fprLengths {
		for ci := range cs {
			docs := cs[ci].chunks(L)
			if len(docs) == 0 {
				continue
			}
			n := int(math.Round(float64(target) * fprShare[li] / float64(len(cs))))
			perm := e.rng("fpr/perm", uint64(ci), uint64(L)).Perm(len(docs))
			groups = append(groups, group{cs[ci].Name, L, docs, n, perm})
		}
	}
	for si, spec := range append(slices.Clip(defaultSchemes), engineSchemes...) {
		cfg, err := watermark.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		if !e.cfg.wantScheme(spec, cfg) {
			continue // si stays the scheme's index in the full list: the same keys
		}
		on := FPRScheme{Spec: cfg.String(), Dedup: true}
		off := FPRScheme{Spec: cfg.String(), Dedup: false}
		var payload []float64
		isPayload := false
		if cfg.Null().Kind == watermark.PayloadNull {
			isPayload = true
		}
		t0 := time.Now()
		for gi, g := range groups {
			pOn := make([]float64, g.tests)
			pOff := make([]float64, g.tests)
			var pPay []float64
			if isPayload {
				pPay = make([]float64, g.tests)
			}
			const block = 256
			dets := make([][2]*detect.Detector, e.cfg.workers())
			err := e.parallel(ctx, (g.tests+block-1)/block, func(w, b int) error {
				for j := b * block; j < min(g.tests, (b+1)*block); j++ {
					doc := g.docs[g.perm[j%len(g.docs)]]
					s, err := watermark.NewScheme(randomKey(e.rng("fpr/key", uint64(si), uint64(gi), uint64(j)), cfg), cfg)
					if err != nil {
						return err
					}
					if dets[w][0] == nil {
						if dets[w][0], err = detect.New(s, detect.Options{}); err != nil {
							return err
						}
						if dets[w][1], err = detect.New(s, detect.Options{NoDedup: true}); err != nil {
							return err
						}
					}
					if err := dets[w][0].SetScheme(s); err != nil {
						return err
					}
					if err := dets[w][1].SetScheme(s); err != nil {
						return err
					}
					r := dets[w][0].Tokens(doc)
					pOn[j] = r.Log10P
					if pPay != nil && r.PayloadLog10P != nil {
						pPay[j] = *r.PayloadLog10P
					}
					pOff[j] = dets[w][1].Tokens(doc).Log10P
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			on.Groups = append(on.Groups, fprGroup(g.corpus, g.length, len(g.docs), pOn))
			off.Groups = append(off.Groups, fprGroup(g.corpus, g.length, len(g.docs), pOff))
			on.log10p = append(on.log10p, pOn...)
			off.log10p = append(off.log10p, pOff...)
			payload = append(payload, pPay...)
		}
		for _, s := range []*FPRScheme{&on, &off} {
			s.Tests = len(s.log10p)
			s.Cells = fprCells(s.log10p)
			s.QQ = qqPoints(s.log10p)
		}
		if isPayload {
			on.PayloadCells = fprCells(payload)
		}
		e.logf("fpr %s: %d tests × 2 (dedup on/off) in %v", on.Spec, on.Tests, time.Since(t0).Round(time.Millisecond))
		res.Schemes = append(res.Schemes, on, off)
	}
	if len(res.Schemes) == 0 {
		return nil, fmt.Errorf("fpr: no scheme matches %q", e.cfg.Schemes)
	}
	res.Worst = worstFPR(res.Schemes)
	if len(e.cfg.Schemes) == 0 {
		if res.FixedKey, res.FixedKeyPower, err = runFixedKey(ctx, e, cs); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func fprGroup(corpus string, length, docs int, log10p []float64) FPRGroup {
	return FPRGroup{Corpus: corpus, Length: length, Docs: docs, Tests: len(log10p), Cells: fprCells(log10p)}
}

// fprCells counts log10 p-values at or below each nominal level.
func fprCells(log10p []float64) []FPRCell {
	var cells []FPRCell
	for _, a := range fprAlphas {
		la := math.Log10(a)
		k := 0
		for _, p := range log10p {
			if p <= la {
				k++
			}
		}
		n := len(log10p)
		lo, hi := clopperPearson(k, n, 0.05)
		cells = append(cells, FPRCell{Alpha: a, Tests: n, Count: k, Rate: float64(k) / float64(max(n, 1)), Lo: lo, Hi: hi, Exceeds: lo > a})
	}
	return cells
}

// worstFPR finds the largest empirical/nominal ratio among deduplicated
// schemes at levels with at least 1/alpha tests.
func worstFPR(ss []FPRScheme) FPRWorstCell {
	var w FPRWorstCell
	for _, s := range ss {
		if !s.Dedup {
			continue
		}
		for _, c := range s.Cells {
			if float64(c.Tests)*c.Alpha < 1 {
				continue
			}
			if r := c.Rate / c.Alpha; r > w.Ratio || w.Spec == "" {
				w = FPRWorstCell{Spec: s.Spec, Alpha: c.Alpha, Ratio: r}
			}
		}
	}
	return w
}

// qqPoints returns log-spaced points of the QQ plot of log10 p-values:
// every one of the 200 smallest, then about 40 per decade.
func qqPoints(log10p []float64) []QQPoint {
	s := sortedCopy(log10p)
	n := len(s)
	var out []QQPoint
	last := -1
	for i := 0; i < n; i++ {
		expected := math.Log10(float64(i+1) / float64(n+1))
		if i >= 200 && last >= 0 && expected-out[len(out)-1].Expected < 1.0/40 && i != n-1 {
			continue
		}
		out = append(out, QQPoint{Expected: round4(expected), Observed: round4(s[i])})
		last = i
	}
	return out
}

// round4 rounds to 4 decimals (log10 units: 0.02% relative), keeping
// results.json small.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// describe formats a scheme row label.
func (s FPRScheme) describe() string {
	d := "dedup on"
	if !s.Dedup {
		d = "dedup off"
	}
	return fmt.Sprintf("`%s` (%s)", s.Spec, d)
}
