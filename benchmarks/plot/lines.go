package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// XYSeries is one named series of points for Lines. Points are joined in
// the given order, so pass them sorted by X.
type XYSeries struct {
	Name string
	X, Y []float64
	// Lo and Hi optionally give an interval per point (for example a
	// confidence interval). They are both nil or both have len(X) values,
	// with Lo[i] <= Hi[i]; the interval need not contain Y[i].
	Lo, Hi []float64
}

// IntervalStyle says how the Lo/Hi intervals of an XYSeries are drawn.
type IntervalStyle int

// Interval styles.
const (
	IntervalBars IntervalStyle = iota // vertical error bars with caps (default)
	IntervalBand                      // translucent band around the line
)

// LineOptions configures Lines. The zero value gives linear axes, lines
// without markers and error bars for intervals.
type LineOptions struct {
	Figure
	// LogX and LogY put the axes on a log10 scale. Points whose X (LogX)
	// or Y (LogY) is <= 0 cannot be placed there: they are skipped, the
	// line is broken at them, and the legend entry says how many were
	// left out. An interval bound Lo <= 0 on a log Y axis is clamped to the
	// bottom of the axis; an interval with Hi <= 0 is not drawn.
	LogX, LogY bool
	// Markers draws a marker at every point. Isolated points (a series or
	// a run between skipped points of length one) always get a marker.
	Markers bool
	// Interval selects how Lo/Hi are drawn.
	Interval IntervalStyle
}

// Lines writes to path a PNG line plot of the series, each with its own
// colour, dash pattern and marker shape. Errors due to bad input (no series,
// empty or mismatched slices, NaN or infinite values, Lo > Hi, nothing
// drawable on a log axis) wrap ErrInvalidInput.
func Lines(path string, series []XYSeries, opt LineOptions) error {
	ch, err := linesChart(series, opt)
	if err == nil {
		err = ch.save(path)
	}
	if err != nil {
		return fmt.Errorf("plot: line plot %s: %w", path, err)
	}
	return nil
}

func validateXY(series []XYSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("%w: no series", ErrInvalidInput)
	}
	for _, s := range series {
		if len(s.X) == 0 {
			return fmt.Errorf("%w: series %q has no points", ErrInvalidInput, s.Name)
		}
		if len(s.Y) != len(s.X) {
			return fmt.Errorf("%w: series %q: %d X values but %d Y values", ErrInvalidInput, s.Name, len(s.X), len(s.Y))
		}
		if err := checkFinite(s.Name, "X", s.X); err != nil {
			return err
		}
		if err := checkFinite(s.Name, "Y", s.Y); err != nil {
			return err
		}
		if err := checkInterval(s.Name, len(s.X), s.Lo, s.Hi); err != nil {
			return err
		}
	}
	return nil
}

// linesChart validates the input and builds the line chart.
func linesChart(series []XYSeries, opt LineOptions) (*chart, error) {
	fig, err := opt.Figure.withDefaults()
	if err != nil {
		return nil, err
	}
	if opt.Interval != IntervalBars && opt.Interval != IntervalBand {
		return nil, fmt.Errorf("%w: unknown interval style %d", ErrInvalidInput, opt.Interval)
	}
	if err := validateXY(series); err != nil {
		return nil, err
	}
	drawable := func(s XYSeries, i int) bool {
		return !(opt.LogX && s.X[i] <= 0) && !(opt.LogY && s.Y[i] <= 0)
	}
	hasInterval := func(s XYSeries, i int) bool {
		return s.Lo != nil && drawable(s, i) && !(opt.LogY && s.Hi[i] <= 0)
	}

	// Log axes: range over everything that will be drawn.
	xlo, xhi, ylo, yhi := 0.0, 0.0, 0.0, 0.0
	first := true
	for _, s := range series {
		for i := range s.X {
			if !drawable(s, i) {
				continue
			}
			ys := []float64{s.Y[i]}
			if hasInterval(s, i) {
				ys = append(ys, s.Hi[i])
				if !opt.LogY || s.Lo[i] > 0 {
					ys = append(ys, s.Lo[i])
				}
			}
			if first {
				xlo, xhi, ylo, yhi = s.X[i], s.X[i], s.Y[i], s.Y[i]
				first = false
			}
			xlo, xhi = min(xlo, s.X[i]), max(xhi, s.X[i])
			for _, y := range ys {
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	if first {
		return nil, fmt.Errorf("%w: no point can be drawn: every point has a coordinate <= 0 on a log axis", ErrInvalidInput)
	}

	ch := newChart(fig, opt.LogX, opt.LogY)
	if opt.LogX {
		setLogRange(&ch.p.X, xlo, xhi)
	}
	if opt.LogY {
		setLogRange(&ch.p.Y, ylo, yhi)
	}

	for k, s := range series {
		st := styleFor(k)
		ls := draw.LineStyle{Color: st.color, Width: vg.Points(1.5), Dashes: st.dashes}
		gs := draw.GlyphStyle{Color: st.color, Radius: vg.Points(2.5), Shape: st.shape}

		// Split the drawable points into runs.
		var runs []plotter.XYs
		var run plotter.XYs
		omitted := 0
		for i := range s.X {
			if !drawable(s, i) {
				omitted++
				if len(run) > 0 {
					runs = append(runs, run)
					run = nil
				}
				continue
			}
			run = append(run, ch.xy(s.X[i], s.Y[i]))
		}
		if len(run) > 0 {
			runs = append(runs, run)
		}

		// Intervals, drawn first so the lines lie on top.
		var bandThumb *plotter.Polygon
		var barThumb *intervals
		if s.Lo != nil {
			bars := &intervals{line: draw.LineStyle{Color: st.color, Width: vg.Points(1)}, capWidth: vg.Points(5)}
			var upper, lower plotter.XYs
			flush := func() {
				if len(upper) >= 2 && opt.Interval == IntervalBand {
					ring := append(plotter.XYs{}, upper...)
					for j := len(lower) - 1; j >= 0; j-- {
						ring = append(ring, lower[j])
					}
					poly, err := plotter.NewPolygon(ring)
					if err == nil {
						poly.Color = withAlpha(st.color, 0.2)
						poly.LineStyle.Width = 0
						ch.p.Add(poly)
						bandThumb = poly
					}
				} else {
					// Error bars, also the fallback for a band of one point.
					for j := range upper {
						bars.x = append(bars.x, upper[j].X)
						bars.lo = append(bars.lo, lower[j].Y)
						bars.hi = append(bars.hi, upper[j].Y)
					}
				}
				ch.addProbe(upper)
				ch.addProbe(lower)
				upper, lower = nil, nil
			}
			for i := range s.X {
				if !hasInterval(s, i) {
					flush()
					continue
				}
				hi := ch.xy(s.X[i], s.Hi[i])
				lo := plotter.XY{X: hi.X, Y: ch.p.Y.Min} // clamped to the bottom of a log axis
				if !opt.LogY || s.Lo[i] > 0 {
					lo = ch.xy(s.X[i], s.Lo[i])
				}
				upper = append(upper, hi)
				lower = append(lower, lo)
			}
			flush()
			if len(bars.x) > 0 {
				ch.p.Add(bars)
				barThumb = bars
				for j := range bars.x {
					ch.addProbe(plotter.XYs{{X: bars.x[j], Y: bars.lo[j]}, {X: bars.x[j], Y: bars.hi[j]}})
				}
			}
		}

		drewMarkers := false
		for _, r := range runs {
			if len(r) >= 2 {
				l, err := plotter.NewLine(r)
				if err != nil {
					return nil, fmt.Errorf("series %q: %w", s.Name, err)
				}
				l.LineStyle = ls
				ch.p.Add(l)
			}
			if opt.Markers || len(r) == 1 {
				sc, err := plotter.NewScatter(r)
				if err != nil {
					return nil, fmt.Errorf("series %q: %w", s.Name, err)
				}
				sc.GlyphStyle = gs
				ch.p.Add(sc)
				drewMarkers = true
			}
			ch.addProbe(r)
		}

		if s.Name == "" {
			continue
		}
		label := s.Name
		if omitted > 0 {
			label += fmt.Sprintf(" (%d pts <= 0 not shown)", omitted)
		}
		var thumbs []gplot.Thumbnailer
		if bandThumb != nil {
			thumbs = append(thumbs, bandThumb)
		} else if barThumb != nil {
			thumbs = append(thumbs, barThumb)
		}
		thumbs = append(thumbs, &plotter.Line{LineStyle: ls})
		if drewMarkers {
			thumbs = append(thumbs, &plotter.Scatter{GlyphStyle: gs})
		}
		ch.addLegend(label, thumbs...)
	}
	return ch, nil
}
