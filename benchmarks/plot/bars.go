package plot

import (
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one named series of a grouped bar chart: one value per
// category, in the order of the categories.
type BarSeries struct {
	Name   string
	Values []float64
	// Lo and Hi optionally give an interval per bar, drawn as an error
	// bar; both nil or both with one value per category, Lo[i] <= Hi[i].
	Lo, Hi []float64
}

// BarOptions configures Bars.
type BarOptions struct {
	Figure
}

// Bars writes to path a PNG grouped bar chart: the categories along X and,
// within each category, one bar per series side by side. Bars start at 0, so
// negative values point down. Long category names are slanted. Errors due
// to bad input (no categories or series, a series whose length differs from
// the number of categories, NaN or infinite values, Lo > Hi) wrap
// ErrInvalidInput.
func Bars(path string, categories []string, series []BarSeries, opt BarOptions) error {
	ch, err := barsChart(categories, series, opt)
	if err == nil {
		err = ch.save(path)
	}
	if err != nil {
		return fmt.Errorf("plot: bar chart %s: %w", path, err)
	}
	return nil
}

// barsChart validates the input and builds the bar chart.
func barsChart(categories []string, series []BarSeries, opt BarOptions) (*chart, error) {
	fig, err := opt.Figure.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(categories) == 0 {
		return nil, fmt.Errorf("%w: no categories", ErrInvalidInput)
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("%w: no series", ErrInvalidInput)
	}
	for _, s := range series {
		if len(s.Values) != len(categories) {
			return nil, fmt.Errorf("%w: series %q has %d values for %d categories", ErrInvalidInput, s.Name, len(s.Values), len(categories))
		}
		if err := checkFinite(s.Name, "Values", s.Values); err != nil {
			return nil, err
		}
		if err := checkInterval(s.Name, len(s.Values), s.Lo, s.Hi); err != nil {
			return nil, err
		}
	}

	ch := newChart(fig, false, false)
	ch.p.NominalX(categories...)
	ch.p.X.Min, ch.p.X.Max = -0.5, float64(len(categories))-0.5
	// Slant the category names when they would not fit side by side
	// (the data area is roughly the figure width minus an inch).
	perCat := (vg.Length(fig.Width)*vg.Inch - vg.Inch) / vg.Length(len(categories))
	for _, c := range categories {
		if ch.p.X.Tick.Label.Width(c) > 0.9*perCat {
			ch.slantCategories(categories, perCat)
			break
		}
	}

	groupWidth := 0.8 // of the unit spacing between categories
	width := groupWidth / float64(len(series))
	ymin, ymax := 0.0, 0.0
	for k, s := range series {
		st := styleFor(k)
		bg := &barGroup{
			values: s.Values,
			offset: -groupWidth/2 + (float64(k)+0.5)*width,
			width:  width,
			fill:   st.color,
			line:   draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)},
		}
		ch.p.Add(bg)
		for j, v := range s.Values {
			x0 := float64(j) + bg.offset - width/2
			// Probe the bar's area with a few vertical lines.
			for q := 0; q <= 4; q++ {
				x := x0 + width*float64(q)/4
				ch.addProbe(plotter.XYs{{X: x, Y: 0}, {X: x, Y: v}})
			}
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
		if s.Lo != nil {
			iv := &intervals{lo: s.Lo, hi: s.Hi, line: draw.LineStyle{Color: color.Black, Width: vg.Points(1)}, capWidth: vg.Points(4)}
			for j := range s.Values {
				x := float64(j) + bg.offset
				iv.x = append(iv.x, x)
				ch.addProbe(plotter.XYs{{X: x, Y: s.Lo[j]}, {X: x, Y: s.Hi[j]}})
				ymin, ymax = min(ymin, s.Lo[j]), max(ymax, s.Hi[j])
			}
			ch.p.Add(iv)
		}
		ch.addLegend(s.Name, bg)
	}
	// Headroom so that the tallest bar does not touch the frame.
	pad := 0.05 * (ymax - ymin)
	if pad == 0 {
		pad = 1
	}
	ch.p.Y.Min, ch.p.Y.Max = ymin, ymax+pad
	if ymin < 0 {
		ch.p.Y.Min = ymin - pad
	}
	// Zero baseline.
	zero, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 0}, {X: float64(len(categories)) - 0.5, Y: 0}})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	zero.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x40}, Width: vg.Points(0.8)}
	ch.p.Add(zero)
	return ch, nil
}

// slantCategories rotates the category labels by 30 degrees, right-aligned
// under their tick, and moves the data area right as far as needed for the
// labels not to stick out on the left; perCat is the estimated width of one
// category.
func (ch *chart) slantCategories(categories []string, perCat vg.Length) {
	const angle = math.Pi / 6
	lbl := &ch.p.X.Tick.Label
	lbl.Rotation = angle
	lbl.XAlign = draw.XRight
	lbl.YAlign = draw.YCenter
	pad := vg.Points(5)
	for j, c := range categories {
		overhang := lbl.Width(c)*vg.Length(math.Cos(angle)) - (vg.Length(j)+0.5)*perCat
		pad = max(pad, overhang)
	}
	ch.p.Y.Padding = pad
}

// barGroup draws one series of a grouped bar chart: bar j is centred at
// x = j + offset, in data units, and is width wide.
type barGroup struct {
	values        []float64
	offset, width float64
	fill          color.Color
	line          draw.LineStyle
}

// Plot implements gonum's plot.Plotter.
func (b *barGroup) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	for j, v := range b.values {
		x0 := trX(float64(j) + b.offset - b.width/2)
		x1 := trX(float64(j) + b.offset + b.width/2)
		y0, y1 := trY(0), trY(v)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.fill, c.ClipPolygonXY(pts))
		c.StrokeLines(b.line, c.ClipLinesXY(append(pts, pts[0]))...)
	}
}

// DataRange implements gonum's plot.DataRanger.
func (b *barGroup) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, v := range b.values {
		ymin, ymax = min(ymin, v), max(ymax, v)
	}
	return -0.5, float64(len(b.values)) - 0.5, ymin, ymax
}

// Thumbnail implements gonum's plot.Thumbnailer.
func (b *barGroup) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	pts := []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}}
	c.FillPolygon(b.fill, pts)
	c.StrokeLines(b.line, append(pts, pts[0]))
}
