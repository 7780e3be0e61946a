package benchmarks

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracemark/tracemark/benchmarks/plot"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/watermark"
)

// spanNullSchemes are the schemes of the span test's null benchmark: the
// default schemes and the engine schemes (SynthID among them).
var spanNullSchemes = append(slices.Clip(defaultSchemes), engineSchemes...)

// spanAlphas are the nominal levels of the span test's null table.
var spanAlphas = []float64{1e-2, 1e-3, 1e-4, 1e-5}

// Span-power settings: passage lengths, dilutions (human tokens per
// passage token) and the schemes tested.
var (
	spanPassages  = []int{100, 200, 400}
	spanDilutions = []int{3, 10, 25, 50}
	spanPowerSpec = []string{watermark.DefaultSpec, "gumbel:h=4", "kgw:payload_bits=32"}
)

// spanAlpha is the level of the power table.
const spanAlpha = 1e-6

// SpansResult is the span-test section: its false-positive rate on long
// human documents and its power on watermarked passages inside them.
type SpansResult struct {
	MinTokens int             `json:"min_tokens"`
	MaxTokens int             `json:"max_tokens"`
	Null      []SpanNullRow   `json:"null"`
	Power     []SpanPowerCell `json:"power"`
	Trials    int             `json:"trials_per_cell"`
	Seconds   float64         `json:"seconds"`
}

// SpanNullRow is the span test's null table for one scheme.
type SpanNullRow struct {
	Spec  string    `json:"scheme"`
	Tests int       `json:"tests"`
	Cells []FPRCell `json:"cells"`
	// Windows is the median number of windows per document.
	Windows int `json:"median_windows"`
}

// SpanPowerCell is the power of one scheme, passage length and dilution.
type SpanPowerCell struct {
	Spec     string `json:"scheme"`
	Passage  int    `json:"passage_tokens"`
	Dilution int    `json:"dilution"` // human tokens = Dilution · Passage
	Trials   int    `json:"trials"`
	// SpanTPR and GlobalTPR: fractions detected at spanAlpha by the span
	// test and by the whole-document test.
	SpanTPR   float64 `json:"span_tpr"`
	GlobalTPR float64 `json:"global_tpr"`
	// MedianIoU is the median, over the span-detected trials, of the best
	// intersection over union of a reported span with the passage (0 for a
	// detection through the global test alone).
	MedianIoU float64 `json:"median_iou"`
	// PayloadExact: payload schemes, the fraction of trials whose best
	// span decodes exactly the embedded payload and claims it.
	PayloadExact *float64 `json:"payload_exact,omitempty"`
}

// spanNullTests is the number of null tests per scheme.
func (c Config) spanNullTests() int {
	if c.SpanTests > 0 {
		return c.SpanTests
	}
	return c.scale(100_000, 60)
}

// runSpans measures the span test: null FPR on human documents of
// 1,000–20,000 tokens under random keys, and power on watermarked
// passages of the built-in model inserted into human text.
func runSpans(ctx context.Context, e *env) (*SpansResult, error) {
	start := time.Now()
	cs, _, err := e.corpora()
	if err != nil {
		return nil, err
	}
	var human [][]uint32 // source documents long enough
	for _, c := range cs {
		for _, d := range c.docs {
			if len(d) >= 2000 {
				human = append(human, d)
			}
		}
	}
	if len(human) == 0 {
		return nil, fmt.Errorf("no human document of 2,000 tokens")
	}
	res := &SpansResult{MinTokens: 1000, MaxTokens: 20000}
	for si, spec := range spanNullSchemes {
		row, err := spanNull(ctx, e, human, spec, si)
		if err != nil {
			return nil, err
		}
		res.Null = append(res.Null, row)
	}
	for _, spec := range spanPowerSpec {
		cells, trials, err := spanPower(ctx, e, human, spec)
		if err != nil {
			return nil, err
		}
		res.Trials = trials
		res.Power = append(res.Power, cells...)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// humanSlice returns a random slice of n tokens of the human documents
// (shorter if no document is long enough), drawn with rng.
func humanSlice(human [][]uint32, n int, pick func(int) int) []uint32 {
	for range 64 {
		d := human[pick(len(human))]
		if len(d) >= n {
			at := pick(len(d) - n + 1)
			return d[at : at+n]
		}
	}
	longest := human[0]
	for _, d := range human {
		if len(d) > len(longest) {
			longest = d
		}
	}
	return longest[:min(n, len(longest))]
}

// spanNull runs the null tests of one scheme.
func spanNull(ctx context.Context, e *env, human [][]uint32, spec string, si int) (SpanNullRow, error) {
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		return SpanNullRow{}, err
	}
	n := e.cfg.spanNullTests()
	log10p := make([]float64, n)
	windows := make([]float64, n)
	scanners := make([]*spans.Scanner, e.cfg.workers())
	const block = 64
	t0 := time.Now()
	err = e.parallel(ctx, (n+block-1)/block, func(w, b int) error {
		for j := b * block; j < min(n, (b+1)*block); j++ {
			rng := e.rng("spans/null", uint64(si), uint64(j))
			// Log-uniform length in [1000, 20000].
			length := int(math.Round(1000 * math.Pow(20, rng.Float64())))
			doc := humanSlice(human, length, rng.IntN)
			s, err := watermark.NewScheme(randomKey(rng, cfg), cfg)
			if err != nil {
				return err
			}
			if scanners[w] == nil {
				// The detector's alpha is the table's largest: the scan
				// evaluates exactly every window that could reach it
				// (docs/spans.md), so each cell counts the exact test.
				d, err := detect.New(s, detect.Options{Alpha: spanAlphas[0]})
				if err != nil {
					return err
				}
				if scanners[w], err = spans.New(d, spans.Options{}); err != nil {
					return err
				}
			} else if err := scanners[w].Detector().SetScheme(s); err != nil {
				return err
			}
			r := scanners[w].Scan(doc, nil)
			log10p[j], windows[j] = r.Log10P, float64(r.Windows)
		}
		return nil
	})
	if err != nil {
		return SpanNullRow{}, err
	}
	row := SpanNullRow{Spec: cfg.String(), Tests: n, Windows: int(quantile(windows, 0.5))}
	for _, a := range spanAlphas {
		k := 0
		for _, p := range log10p {
			if p <= math.Log10(a) {
				k++
			}
		}
		lo, hi := clopperPearson(k, n, 0.05)
		row.Cells = append(row.Cells, FPRCell{Alpha: a, Tests: n, Count: k, Rate: float64(k) / float64(n), Lo: lo, Hi: hi, Exceeds: lo > a})
	}
	e.logf("spans null %s: %d tests in %v", row.Spec, n, time.Since(t0).Round(time.Millisecond))
	return row, nil
}

// spanPower measures one scheme's power on passages of its completions.
func spanPower(ctx context.Context, e *env, human [][]uint32, spec string) ([]SpanPowerCell, int, error) {
	p, err := e.pool(ctx, spec)
	if err != nil {
		return nil, 0, err
	}
	if len(p.comps) == 0 {
		return nil, 0, fmt.Errorf("no completions of %s", spec)
	}
	trials := e.cfg.scale(200, 8)
	var cells []SpanPowerCell
	for pi, P := range spanPassages {
		if P > e.cfg.completionLength() {
			continue
		}
		for di, f := range spanDilutions {
			cell := SpanPowerCell{Spec: p.spec, Passage: P, Dilution: f, Trials: trials}
			var ious []float64
			span, global, exact := make([]bool, trials), make([]bool, trials), make([]bool, trials)
			iou := make([]float64, trials)
			_, isPayload := watermark.CarriesPayload(p.comps[0].scheme)
			err := e.parallel(ctx, trials, func(_, j int) error {
				c := p.comps[j%len(p.comps)]
				rng := e.rng("spans/power", uint64(pi), uint64(di), uint64(j))
				passage := c.ids[:min(P, len(c.ids))]
				base := humanSlice(human, f*P, rng.IntN)
				at := rng.IntN(len(base) + 1)
				doc := make([]uint32, 0, len(base)+len(passage))
				doc = append(append(append(doc, base[:at]...), passage...), base[at:]...)
				d, err := detect.New(c.scheme, detect.Options{Alpha: spanAlpha})
				if err != nil {
					return err
				}
				sc, err := spans.New(d, spans.Options{})
				if err != nil {
					return err
				}
				r := sc.Scan(doc, nil)
				span[j], global[j] = r.Detected, r.GlobalLog10P <= math.Log10(spanAlpha)
				best := -1
				for k, sp := range r.Spans {
					if v := tokenIoU(sp.TokenStart, sp.TokenEnd, at, at+len(passage)); v > iou[j] {
						iou[j] = v
					}
					if best < 0 || sp.Log10P < r.Spans[best].Log10P {
						best = k
					}
				}
				if isPayload && best >= 0 {
					sp := r.Spans[best]
					exact[j] = sp.PayloadClaimed && sp.Evidence.Payload == strconv.FormatUint(c.payload, 16)
				}
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
			k, g, x := 0, 0, 0
			for j := range span {
				if span[j] {
					k++
					ious = append(ious, iou[j])
				}
				if global[j] {
					g++
				}
				if exact[j] {
					x++
				}
			}
			cell.SpanTPR, cell.GlobalTPR = float64(k)/float64(trials), float64(g)/float64(trials)
			if len(ious) > 0 {
				cell.MedianIoU = quantile(ious, 0.5)
			}
			if isPayload {
				v := float64(x) / float64(trials)
				cell.PayloadExact = &v
			}
			cells = append(cells, cell)
		}
	}
	return cells, trials, nil
}

// tokenIoU is the intersection over union of [a, b) and [c, d).
func tokenIoU(a, b, c, d int) float64 {
	in := min(b, d) - max(a, c)
	if in <= 0 {
		return 0
	}
	return float64(in) / float64(max(b, d)-min(a, c))
}

func (r *SpansResult) markdown(b *strings.Builder, dir string) error {
	fmt.Fprintf(b, "The span test of `detect --spans` ([docs/spans.md](../../docs/spans.md)): the whole-document test plus windows of 32, 64, … counted tokens at half-window stride, "+
		"Bonferroni over the windows, combined as 2·min(p_global, p_local).\n\n"+
		"**Null.** Human documents of %d–%d tokens (log-uniform length, random slices of the prose and code corpora), a fresh random key per test; "+
		"the span test's p-value against each level, with 95%% Clopper–Pearson intervals.\n\n", r.MinTokens, r.MaxTokens)
	cols := []string{"scheme", "tests", "median windows"}
	for _, a := range spanAlphas {
		cols = append(cols, "FPR@"+sci(a))
	}
	tableHeader(b, 1, cols...)
	for _, row := range r.Null {
		fmt.Fprintf(b, "| `%s` | %d | %d |", row.Spec, row.Tests, row.Windows)
		for _, c := range row.Cells {
			fmt.Fprintf(b, " %s |", fmtRate(c))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\n**Power.** A passage of the first P tokens of a built-in-model completion (its own random key) inserted at a random token position into a random slice of human text of dilution × P tokens; "+
		"%d trials per cell; TPR at α = %s of the span test and of the whole-document test; median IoU of the best reported span with the passage (tokens), over span-detected trials.\n\n", r.Trials, sci(spanAlpha))
	tableHeader(b, 1, "scheme", "passage", "dilution", "human tokens", "span TPR", "whole-doc TPR", "median IoU", "payload exact")
	for _, c := range r.Power {
		pay := "–"
		if c.PayloadExact != nil {
			pay = fmt.Sprintf("%.2f", *c.PayloadExact)
		}
		fmt.Fprintf(b, "| `%s` | %d | %d× | %d | %.2f | %.2f | %.2f | %s |\n", c.Spec, c.Passage, c.Dilution, c.Passage*c.Dilution, c.SpanTPR, c.GlobalTPR, c.MedianIoU, pay)
	}
	return r.plots(b, dir)
}

// plots draws TPR against dilution, span test and whole-document test,
// per passage length, for the default scheme.
func (r *SpansResult) plots(b *strings.Builder, dir string) error {
	def, _ := watermark.ParseSpec(watermark.DefaultSpec)
	var series []plot.XYSeries
	for _, P := range spanPassages {
		sp := plot.XYSeries{Name: fmt.Sprintf("span test, %d-token passage", P)}
		gl := plot.XYSeries{Name: fmt.Sprintf("whole document, %d-token passage", P)}
		for _, c := range r.Power {
			if c.Spec == def.String() && c.Passage == P {
				sp.X, sp.Y = append(sp.X, float64(c.Dilution)), append(sp.Y, c.SpanTPR)
				gl.X, gl.Y = append(gl.X, float64(c.Dilution)), append(gl.Y, c.GlobalTPR)
			}
		}
		if len(sp.X) > 0 {
			series = append(series, sp, gl)
		}
	}
	if len(series) == 0 {
		return nil
	}
	const file = "spans-tpr.png"
	title := "Default scheme: TPR at α = 1e-6 against dilution"
	if err := plot.Lines(filepath.Join(dir, file), series, plot.LineOptions{
		Figure:  plot.Figure{Title: title, XLabel: "human tokens per passage token", YLabel: "TPR", Width: 7, Height: 4.5, Legend: plot.LegendBottomLeft},
		LogX:    true,
		Markers: true,
	}); err != nil {
		return err
	}
	image(b, file, title)
	return nil
}
