package benchmarks

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/tracemark/tracemark/benchmarks/plot"
	"github.com/tracemark/tracemark/watermark"
)

// qqFloor is the smallest p-value the FPR QQ plots show; smaller ones sit on
// the bottom edge.
const qqFloor = 1e-12

// image writes a markdown image link to a plot file in the report directory.
func image(b *strings.Builder, file, alt string) {
	fmt.Fprintf(b, "\n![%s](%s)\n", alt, file)
}

func (r *FPRResult) plots(b *strings.Builder, dir string) error {
	for _, dedup := range []bool{true, false} {
		var series []plot.XYSeries
		lo := 0.0
		for _, s := range r.Schemes {
			if s.Dedup != dedup || len(s.QQ) == 0 {
				continue
			}
			xy := plot.XYSeries{Name: shortSpec(s.Spec)}
			for _, q := range s.QQ {
				xy.X = append(xy.X, math.Pow(10, q.Expected))
				xy.Y = append(xy.Y, math.Pow(10, max(q.Observed, math.Log10(qqFloor))))
				lo = min(lo, q.Expected)
			}
			series = append(series, xy)
		}
		if len(series) == 0 {
			continue
		}
		series = append(series, plot.XYSeries{Name: "uniform (y = x)", X: []float64{math.Pow(10, lo), 1}, Y: []float64{math.Pow(10, lo), 1}})
		name, title := "fpr-qq-dedup.png", "Null p-values, dedup on"
		if !dedup {
			name, title = "fpr-qq-nodedup.png", "Null p-values, dedup off"
		}
		err := plot.Lines(filepath.Join(dir, name), series, plot.LineOptions{
			Figure: plot.Figure{Title: title + fmt.Sprintf(" (p < %g drawn at %g)", qqFloor, qqFloor), XLabel: "expected p (uniform quantile)", YLabel: "observed p", Width: 7, Height: 5, Legend: plot.LegendTopLeft},
			LogX:   true, LogY: true,
		})
		if err != nil {
			return err
		}
		image(b, name, title)
	}
	return nil
}

// shortSpec abbreviates a SPEC for legends and axis labels, e.g.
// "kgw δ2 h4 self" or "kgw payload32 δ2 h4 self".
func shortSpec(spec string) string {
	c, err := watermark.ParseSpec(spec)
	if err != nil {
		return spec
	}
	switch c := c.(type) {
	case watermark.KGWConfig:
		s := "kgw"
		if c.PayloadBits > 0 {
			s += fmt.Sprintf(" payload%d", c.PayloadBits)
		}
		seeding := "left"
		if c.Seeding == watermark.SelfHash {
			seeding = "self"
		}
		s += fmt.Sprintf(" δ%g h%d %s", c.Delta, c.H, seeding)
		if c.Gamma != 0.25 {
			s += fmt.Sprintf(" γ%g", c.Gamma)
		}
		return s
	case watermark.GumbelConfig:
		return fmt.Sprintf("gumbel h%d", c.H)
	case watermark.TournamentConfig:
		return fmt.Sprintf("tournament m%d h%d", c.M, c.H)
	}
	return spec
}

func (r *PowerResult) plots(b *strings.Builder, dir string) error {
	groups := []struct {
		file, title string
		keep        func(string) bool
	}{
		{"power-tpr.png", "TPR at α = 1e-6 against length", func(s string) bool {
			for _, d := range defaultSchemes {
				if c, err := watermark.ParseSpec(d); err == nil && c.String() == s {
					return true
				}
			}
			return s == unwatermarked
		}},
		{"power-kgw.png", "KGW: TPR at α = 1e-6 by δ and h", func(s string) bool {
			return strings.HasPrefix(s, "kgw:") && !strings.Contains(s, "payload")
		}},
	}
	for _, g := range groups {
		var series []plot.XYSeries
		for _, s := range r.Settings {
			if !g.keep(s.Spec) {
				continue
			}
			xy := plot.XYSeries{Name: shortSpec(s.Spec)}
			for l, L := range powerLengths {
				if L > r.Length {
					break
				}
				xy.X = append(xy.X, float64(L))
				xy.Y = append(xy.Y, s.TPR[len(powerAlphas)-1][l])
			}
			series = append(series, xy)
		}
		if len(series) == 0 {
			continue
		}
		if err := plot.Lines(filepath.Join(dir, g.file), series, plot.LineOptions{
			Figure:  plot.Figure{Title: g.title, XLabel: "tokens", YLabel: "TPR", Width: 7, Height: 4.5, Legend: plot.LegendBottomRight},
			LogX:    true,
			Markers: true,
		}); err != nil {
			return err
		}
		image(b, g.file, g.title)
	}
	return nil
}

func (r *RobustnessResult) plots(b *strings.Builder, dir string) error {
	if len(r.Schemes) == 0 {
		return nil
	}
	li := len(r.Lengths) - 1
	// Default scheme: every attack against strength.
	s := r.Schemes[0]
	var series []plot.XYSeries
	for _, row := range s.Rows {
		if row.Strength == 0 {
			continue
		}
		i := -1
		for k := range series {
			if series[k].Name == row.Attack {
				i = k
			}
		}
		if i < 0 {
			series = append(series, plot.XYSeries{Name: row.Attack})
			i = len(series) - 1
		}
		series[i].X = append(series[i].X, row.Strength)
		series[i].Y = append(series[i].Y, row.TPR[li])
	}
	title := fmt.Sprintf("%s, %d tokens: TPR at α = %g", shortSpec(s.Spec), r.Lengths[li], r.Alpha)
	if err := plot.Lines(filepath.Join(dir, "robustness-attacks.png"), series, plot.LineOptions{
		Figure:  plot.Figure{Title: title, XLabel: "attack strength", YLabel: "TPR", Width: 7, Height: 4.5, Legend: plot.LegendRight},
		Markers: true,
	}); err != nil {
		return err
	}
	image(b, "robustness-attacks.png", title)
	// Every scheme under random substitution.
	series = nil
	for _, s := range r.Schemes {
		xy := plot.XYSeries{Name: shortSpec(s.Spec)}
		for _, st := range robustStrengths {
			xy.X = append(xy.X, st)
			xy.Y = append(xy.Y, s.tpr("substitute", st, li))
		}
		series = append(series, xy)
	}
	title = fmt.Sprintf("Random token substitution, %d tokens: TPR at α = %g", r.Lengths[li], r.Alpha)
	if err := plot.Lines(filepath.Join(dir, "robustness-schemes.png"), series, plot.LineOptions{
		Figure:  plot.Figure{Title: title, XLabel: "fraction of tokens substituted", YLabel: "TPR", Width: 7, Height: 4.5, Legend: plot.LegendRight},
		Markers: true,
	}); err != nil {
		return err
	}
	image(b, "robustness-schemes.png", title)
	return nil
}

func (r *QualityResult) plots(b *strings.Builder, dir string) error {
	if len(r.Settings) == 0 || r.Settings[0].Spec != unwatermarked {
		return nil
	}
	base := r.Settings[0]
	var cats []string
	gen := plot.BarSeries{Name: "generator (median ppl / unwatermarked)"}
	jud := plot.BarSeries{Name: "judge (median ppl / unwatermarked)"}
	for _, s := range r.Settings[1:] {
		cats = append(cats, shortSpec(s.Spec))
		gen.Values = append(gen.Values, s.GeneratorMedian/base.GeneratorMedian)
		jud.Values = append(jud.Values, s.JudgeMedian/base.JudgeMedian)
	}
	title := "Perplexity relative to unwatermarked text"
	if err := plot.Bars(filepath.Join(dir, "quality-perplexity.png"), cats, []plot.BarSeries{gen, jud}, plot.BarOptions{
		Figure: plot.Figure{Title: title, YLabel: "ratio", Width: 9, Height: 5},
	}); err != nil {
		return err
	}
	image(b, "quality-perplexity.png", title)
	return nil
}

func (r *DistillResult) plots(b *strings.Builder, dir string) error {
	if len(r.Schemes) == 0 {
		return nil
	}
	last := len(r.Checkpoints) - 1
	var series []plot.XYSeries
	for _, s := range r.Schemes {
		xy := plot.XYSeries{Name: shortSpec(s.Spec)}
		for _, row := range s.Rows {
			xy.X = append(xy.X, 100*row.Fraction)
			xy.Y = append(xy.Y, -row.Median[last])
		}
		series = append(series, xy)
	}
	series = append(series, plot.XYSeries{Name: "p = 1e-5", X: []float64{0, 100}, Y: []float64{5, 5}})
	title := fmt.Sprintf("Student answers (%d tokens): evidence against x", r.Checkpoints[last])
	if err := plot.Lines(filepath.Join(dir, "distill-fraction.png"), series, plot.LineOptions{
		Figure:  plot.Figure{Title: title, XLabel: "% of student training tokens from the watermarked teacher", YLabel: "-log10 p (median)", Width: 7, Height: 4.5, Legend: plot.LegendTopLeft},
		Markers: true,
	}); err != nil {
		return err
	}
	image(b, "distill-fraction.png", title)
	series = nil
	for _, row := range r.Schemes[0].Rows {
		xy := plot.XYSeries{Name: fmt.Sprintf("x = %g%%", 100*row.Fraction)}
		for c, n := range r.Checkpoints {
			xy.X = append(xy.X, float64(n))
			xy.Y = append(xy.Y, -row.Median[c])
		}
		series = append(series, xy)
	}
	title = fmt.Sprintf("%s: evidence against student tokens queried", shortSpec(r.Schemes[0].Spec))
	if err := plot.Lines(filepath.Join(dir, "distill-tokens.png"), series, plot.LineOptions{
		Figure:  plot.Figure{Title: title, XLabel: "student tokens queried", YLabel: "-log10 p (median)", Width: 7, Height: 4.5, Legend: plot.LegendTopLeft},
		LogX:    true,
		Markers: true,
	}); err != nil {
		return err
	}
	image(b, "distill-tokens.png", title)
	var nulls []plot.PValues
	for _, sc := range r.Schemes {
		if len(sc.Null.Log10P) == 0 {
			continue
		}
		p := make([]float64, len(sc.Null.Log10P))
		for i, l := range sc.Null.Log10P {
			p[i] = math.Pow(10, l)
		}
		nulls = append(nulls, plot.PValues{Name: shortSpec(sc.Spec), P: p})
	}
	if len(nulls) > 0 {
		title = fmt.Sprintf("x = 0 student under %d keys per scheme", r.NullKeys)
		if err := plot.QQ(filepath.Join(dir, "distill-null-qq.png"), nulls, plot.QQOptions{
			Figure: plot.Figure{Title: title}, BandLevel: 0.95,
		}); err != nil {
			return err
		}
		image(b, "distill-null-qq.png", title)
	}
	return nil
}
