package plot

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// QQ defaults.
const (
	// DefaultFloor is the default QQOptions.Floor.
	DefaultFloor = 1e-12
	// DefaultQQPoints is the default QQOptions.MaxPoints.
	DefaultQQPoints = 2000
	// minQQPoints and maxQQPoints bound QQOptions.MaxPoints.
	minQQPoints = 16
	maxQQPoints = 100000
	// bandPoints is the number of ranks at which the band is evaluated.
	bandPoints = 256
)

// PValues is one named series of p-values for a QQ plot. Values must lie in
// [0, 1]; the order does not matter (QQ sorts a copy).
type PValues struct {
	Name string
	P    []float64
}

// QQOptions configures QQ. The zero value gives the defaults.
type QQOptions struct {
	Figure
	// Floor is the smallest p-value drawn: values below it (including
	// exact zeros) are drawn at Floor, so they sit on the bottom edge of
	// the plot. When any value is clamped, the legend reports how many per
	// series and the title states the floor. Default DefaultFloor; must be
	// in (0, 1).
	Floor float64
	// BandLevel is the coverage of the pointwise band drawn around the
	// diagonal (e.g. 0.95): at rank i of n, the band spans the central
	// BandLevel of Beta(i, n-i+1), the law of the i-th smallest of n
	// uniform p-values. It is drawn once per distinct series length.
	// Zero disables the band; otherwise it must be in (0, 1).
	BandLevel float64
	// MaxPoints bounds the markers drawn per series (default
	// DefaultQQPoints, between 16 and 100000). Longer series are thinned: the
	// smallest MaxPoints/4 p-values are all kept, and the rest are
	// subsampled at ranks evenly spaced on the log axis, always keeping
	// the largest. As sorted p-values are monotone in rank, the drawn curve
	// stays within one kept step of the full one.
	MaxPoints int
}

// QQ writes to path a PNG QQ plot of p-values on log10 axes: for each series
// of n values, the i-th smallest observed p-value (Y) against its expected
// value i/(n+1) under uniformity (X), with the y = x diagonal and, when
// BandLevel > 0, a shaded pointwise band. Default axis labels are supplied
// when XLabel or YLabel is empty. Errors due to bad input wrap
// ErrInvalidInput.
func QQ(path string, series []PValues, opt QQOptions) error {
	ch, err := qqChart(series, opt)
	if err == nil {
		err = ch.save(path)
	}
	if err != nil {
		return fmt.Errorf("plot: QQ plot %s: %w", path, err)
	}
	return nil
}

func (o QQOptions) withDefaults() (QQOptions, error) {
	var err error
	if o.Figure, err = o.Figure.withDefaults(); err != nil {
		return o, err
	}
	if o.Floor == 0 {
		o.Floor = DefaultFloor
	}
	if !(o.Floor > 0 && o.Floor < 1) {
		return o, fmt.Errorf("%w: Floor %v outside (0, 1)", ErrInvalidInput, o.Floor)
	}
	if !(o.BandLevel >= 0 && o.BandLevel < 1) {
		return o, fmt.Errorf("%w: BandLevel %v outside [0, 1)", ErrInvalidInput, o.BandLevel)
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = DefaultQQPoints
	}
	if o.MaxPoints < minQQPoints || o.MaxPoints > maxQQPoints {
		return o, fmt.Errorf("%w: MaxPoints %d outside [%d, %d]", ErrInvalidInput, o.MaxPoints, minQQPoints, maxQQPoints)
	}
	if o.XLabel == "" {
		o.XLabel = "expected p-value (uniform)"
	}
	if o.YLabel == "" {
		o.YLabel = "observed p-value"
	}
	return o, nil
}

func validatePValues(series []PValues) error {
	if len(series) == 0 {
		return fmt.Errorf("%w: no series", ErrInvalidInput)
	}
	for _, s := range series {
		if len(s.P) == 0 {
			return fmt.Errorf("%w: series %q has no p-values", ErrInvalidInput, s.Name)
		}
		for i, p := range s.P {
			if !(p >= 0 && p <= 1) { // also catches NaN
				return fmt.Errorf("%w: series %q: p[%d] = %v outside [0, 1]", ErrInvalidInput, s.Name, i, p)
			}
		}
	}
	return nil
}

// qqChart validates the input and builds the QQ chart.
func qqChart(series []PValues, opt QQOptions) (*chart, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := validatePValues(series); err != nil {
		return nil, err
	}
	floorText := fmt.Sprintf("%g", opt.Floor)

	type prepared struct {
		xys     plotter.XYs // in data coordinates
		n       int
		clamped int
	}
	prep := make([]prepared, len(series))
	xmin, ymin := 1.0, 1.0
	var ns []int
	for k, s := range series {
		sorted := slices.Clone(s.P)
		slices.Sort(sorted)
		n := len(sorted)
		ranks := thinRanks(n, opt.MaxPoints)
		xys := make(plotter.XYs, len(ranks))
		for j, r := range ranks {
			xys[j] = plotter.XY{X: float64(r) / float64(n+1), Y: max(sorted[r-1], opt.Floor)}
		}
		prep[k] = prepared{xys: xys, n: n, clamped: sort.SearchFloat64s(sorted, opt.Floor)}
		xmin = min(xmin, xys[0].X)
		ymin = min(ymin, xys[0].Y)
		ns = append(ns, n)
	}
	slices.Sort(ns)
	ns = slices.Compact(ns)

	type band struct {
		n            int
		upper, lower plotter.XYs // data coordinates, ascending x
	}
	var bands []band
	if opt.BandLevel > 0 {
		for _, n := range ns {
			b := band{n: n}
			for _, r := range thinRanks(n, bandPoints) {
				x := float64(r) / float64(n+1)
				lo, hi := orderStatBand(r, n, opt.BandLevel)
				if !(lo >= 0 && hi <= 1 && lo <= hi) {
					return nil, fmt.Errorf("band quantiles for rank %d of %d are invalid: [%v, %v]", r, n, lo, hi)
				}
				lo, hi = max(lo, opt.Floor), max(hi, opt.Floor)
				b.lower = append(b.lower, plotter.XY{X: x, Y: lo})
				b.upper = append(b.upper, plotter.XY{X: x, Y: hi})
				ymin = min(ymin, lo)
			}
			bands = append(bands, b)
		}
	}

	anyClamped := false
	for _, pr := range prep {
		anyClamped = anyClamped || pr.clamped > 0
	}
	fig := opt.Figure
	if anyClamped {
		note := fmt.Sprintf("p < %s drawn at %s", floorText, floorText)
		if fig.Title == "" {
			fig.Title = note
		} else {
			fig.Title += " (" + note + ")"
		}
	}
	ch := newChart(fig, true, true)
	setLogRange(&ch.p.X, xmin, 1)
	setLogRange(&ch.p.Y, ymin, 1)
	ch.p.Y.Min = max(ch.p.Y.Min, math.Log10(opt.Floor))
	mapped := func(xys plotter.XYs) plotter.XYs {
		out := make(plotter.XYs, len(xys))
		for i, p := range xys {
			out[i] = ch.xy(p.X, p.Y)
		}
		return out
	}

	var bandPolys []*plotter.Polygon
	for _, b := range bands {
		upper, lower := mapped(b.upper), mapped(b.lower)
		ring := slices.Clone(upper)
		for j := len(lower) - 1; j >= 0; j-- {
			ring = append(ring, lower[j])
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, fmt.Errorf("band polygon: %w", err)
		}
		poly.Color = withAlpha(color.Gray{Y: 0x80}, 0.3)
		poly.LineStyle.Width = 0
		ch.p.Add(poly)
		ch.addProbe(upper)
		ch.addProbe(lower)
		bandPolys = append(bandPolys, poly)
	}
	d0 := max(ch.p.X.Min, ch.p.Y.Min) // diagonal y = x, in log10 units
	diag, err := plotter.NewLine(plotter.XYs{{X: d0, Y: d0}, {X: 0, Y: 0}})
	if err != nil {
		return nil, fmt.Errorf("diagonal: %w", err)
	}
	diag.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x40}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	ch.p.Add(diag)
	ch.addProbe(diag.XYs)

	for k, s := range series {
		pr := prep[k]
		pts := mapped(pr.xys)
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		st := styleFor(k)
		sc.GlyphStyle = draw.GlyphStyle{Color: st.color, Radius: vg.Points(1.6), Shape: st.shape}
		ch.p.Add(sc)
		ch.addProbe(pts)
		if s.Name != "" {
			label := fmt.Sprintf("%s (n=%d", s.Name, pr.n)
			if pr.clamped > 0 {
				label += fmt.Sprintf(", %d below %s", pr.clamped, floorText)
			}
			ch.addLegend(label+")", sc)
		}
	}
	ch.addLegend("y = x", diag)
	for i, b := range bands {
		label := fmt.Sprintf("%g%% band", 100*opt.BandLevel)
		if len(bands) > 1 {
			label += fmt.Sprintf(" (n=%d)", b.n)
		}
		ch.addLegend(label, bandPolys[i])
	}
	return ch, nil
}

// thinRanks returns increasing 1-based ranks out of n to draw, at most about
// m of them: all of 1..m/4, then ranks geometrically spaced up to n
// (inclusive). When n <= m every rank is returned.
func thinRanks(n, m int) []int {
	if n <= m {
		r := make([]int, n)
		for i := range r {
			r[i] = i + 1
		}
		return r
	}
	tail := max(1, m/4)
	ranks := make([]int, 0, m+1)
	for i := 1; i <= tail; i++ {
		ranks = append(ranks, i)
	}
	rest := m - tail
	step := math.Log(float64(n)/float64(tail)) / float64(rest)
	last := tail
	for k := 1; k <= rest; k++ {
		r := min(n, int(math.Round(float64(tail)*math.Exp(step*float64(k)))))
		if r > last {
			ranks = append(ranks, r)
			last = r
		}
	}
	if last != n {
		ranks = append(ranks, n)
	}
	return ranks
}

// orderStatBand returns the central level-interval of Beta(r, n-r+1), the
// law of the r-th smallest of n independent uniform p-values.
func orderStatBand(r, n int, level float64) (lo, hi float64) {
	beta := distuv.Beta{Alpha: float64(r), Beta: float64(n - r + 1)}
	a := (1 - level) / 2
	return beta.Quantile(a), beta.Quantile(1 - a)
}
