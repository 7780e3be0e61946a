// Package plot renders the PNG figures of the tracemark benchmark report:
// QQ plots of p-values on log axes (QQ), line plots with optional
// intervals (Lines) and grouped bar charts (Bars).
//
// It is a thin, validated layer over gonum.org/v1/plot, which is pure Go
// and embeds its fonts, so figures render offline. Output is deterministic:
// identical inputs produce byte-identical PNG files. Every function writes
// the file at the given path; the parent directory must already exist.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ErrInvalidInput is wrapped by every error caused by invalid data or
// options (as opposed to rendering or I/O failures); test with errors.Is.
var ErrInvalidInput = errors.New("invalid plot input")

// Default figure geometry, used when the corresponding Figure field is zero.
const (
	DefaultWidth  = 6.0 // inches
	DefaultHeight = 4.0 // inches
	DefaultDPI    = 100 // pixels per inch
)

// Limits on the figure geometry, to keep images sane in size.
const (
	minDPI       = 10
	maxDPI       = 1200
	maxPixelSide = 10000
)

// LegendPosition says where the legend is drawn.
type LegendPosition int

// Legend positions. The zero value, LegendAuto, picks the corner of the data
// area that covers none of the drawn data; when every corner would hide some
// data it puts the legend outside, right or below, whichever shrinks the
// data area less.
const (
	LegendAuto LegendPosition = iota
	LegendTopLeft
	LegendTopRight
	LegendBottomLeft
	LegendBottomRight
	LegendRight // outside the axes, right of the data area
	LegendBelow // outside the axes, below the plot, in as many columns as fit
	LegendNone  // no legend
)

// Figure holds the settings shared by every chart: texts, legend placement
// and output size. Zero fields take the defaults documented on each field.
type Figure struct {
	// Title is drawn above the plot; empty means no title.
	Title string
	// XLabel and YLabel label the axes; some charts supply a default when
	// they are empty.
	XLabel, YLabel string
	// Width and Height are the figure size in inches (default 6 x 4).
	Width, Height float64
	// DPI is the resolution in pixels per inch (default 100), so the PNG
	// is Width*DPI x Height*DPI pixels (rounded up); each side may be at
	// most 10000 pixels.
	DPI int
	// Legend is where the legend goes (default LegendAuto). Series with an
	// empty name get no legend entry.
	Legend LegendPosition
}

// withDefaults validates f and fills in its zero fields.
func (f Figure) withDefaults() (Figure, error) {
	if f.Width == 0 {
		f.Width = DefaultWidth
	}
	if f.Height == 0 {
		f.Height = DefaultHeight
	}
	if f.DPI == 0 {
		f.DPI = DefaultDPI
	}
	if f.DPI < minDPI || f.DPI > maxDPI {
		return f, fmt.Errorf("%w: DPI %d outside [%d, %d]", ErrInvalidInput, f.DPI, minDPI, maxDPI)
	}
	for _, d := range []struct {
		name string
		v    float64
	}{{"width", f.Width}, {"height", f.Height}} {
		if !(d.v > 0) || math.IsInf(d.v, 0) || d.v*float64(f.DPI) > maxPixelSide {
			return f, fmt.Errorf("%w: figure %s %v in is not positive or exceeds %d pixels at %d dpi",
				ErrInvalidInput, d.name, d.v, maxPixelSide, f.DPI)
		}
	}
	if f.Legend < LegendAuto || f.Legend > LegendNone {
		return f, fmt.Errorf("%w: unknown legend position %d", ErrInvalidInput, f.Legend)
	}
	return f, nil
}

// seriesStyle is the fixed look of the i-th series: colour, dash pattern and
// marker shape. Colours come from the Okabe–Ito colour-blind-safe palette
// (yellow replaced by olive, which reads better on white).
type seriesStyle struct {
	color  color.Color
	dashes []vg.Length
	shape  draw.GlyphDrawer
}

func styleFor(i int) seriesStyle {
	palette := [...]color.RGBA{
		{0x00, 0x72, 0xB2, 0xFF}, // blue
		{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
		{0x00, 0x9E, 0x73, 0xFF}, // bluish green
		{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
		{0xE6, 0x9F, 0x00, 0xFF}, // orange
		{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
		{0x00, 0x00, 0x00, 0xFF}, // black
		{0x99, 0x99, 0x33, 0xFF}, // olive
	}
	dashes := [...][]vg.Length{
		nil,
		{vg.Points(6), vg.Points(3)},
		{vg.Points(2), vg.Points(2)},
		{vg.Points(6), vg.Points(2), vg.Points(2), vg.Points(2)},
		{vg.Points(10), vg.Points(4)},
	}
	shapes := [...]draw.GlyphDrawer{
		draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{},
		draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
	}
	return seriesStyle{
		color:  palette[i%len(palette)],
		dashes: dashes[i%len(dashes)],
		shape:  shapes[i%len(shapes)],
	}
}

// withAlpha returns c made translucent with the given alpha in [0, 1]
// (premultiplied, as color.RGBA requires).
func withAlpha(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.RGBA{
		R: uint8(float64(r>>8) * a),
		G: uint8(float64(g>>8) * a),
		B: uint8(float64(b>>8) * a),
		A: uint8(255 * a),
	}
}

// legendEntry is one line of the legend.
type legendEntry struct {
	name   string
	thumbs []gplot.Thumbnailer
}

// chart is a gonum plot plus what this package draws around it.
//
// Log axes are implemented by plotting log10 of the data on a linear gonum
// axis whose ticks are labelled with powers of ten: gonum's own LogScale
// panics on non-positive values and misplaces axis-label glyph boxes, which
// wastes space. Every coordinate given to a plotter goes through xy.
type chart struct {
	fig        Figure
	p          *gplot.Plot
	logX, logY bool
	entries    []legendEntry
	// probes are polylines, in plot coordinates, of everything drawn;
	// they are sampled to find a legend corner free of data.
	probes [][]plotter.XY
}

func newChart(fig Figure, logX, logY bool) *chart {
	p := gplot.New()
	p.Title.Text = fig.Title
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = fig.XLabel
	p.Y.Label.Text = fig.YLabel
	p.X.Tick.Marker = linearTicks{}
	p.Y.Tick.Marker = linearTicks{}
	if logX {
		p.X.Tick.Marker = logTicks{}
	}
	if logY {
		p.Y.Tick.Marker = logTicks{}
	}
	return &chart{fig: fig, p: p, logX: logX, logY: logY}
}

// xy maps a data point to plot coordinates (log10 on log axes). Callers
// make sure coordinates on log axes are positive.
func (ch *chart) xy(x, y float64) plotter.XY {
	if ch.logX {
		x = math.Log10(x)
	}
	if ch.logY {
		y = math.Log10(y)
	}
	return plotter.XY{X: x, Y: y}
}

// setLogRange sets the range of a log axis (ax is ch.p.X or ch.p.Y) to
// whole decades around the positive data range [lo, hi].
func setLogRange(ax *gplot.Axis, lo, hi float64) {
	ax.Min = math.Floor(math.Log10(lo) + 1e-9)
	ax.Max = math.Ceil(math.Log10(hi) - 1e-9)
	if ax.Max <= ax.Min { // lo == hi == a power of ten
		ax.Min = ax.Max - 1
	}
}

func (ch *chart) addLegend(name string, thumbs ...gplot.Thumbnailer) {
	if name == "" {
		return
	}
	ch.entries = append(ch.entries, legendEntry{name: name, thumbs: thumbs})
}

func (ch *chart) addProbe(pts []plotter.XY) {
	if len(pts) > 0 {
		ch.probes = append(ch.probes, pts)
	}
}

// save renders the chart and writes it to path.
func (ch *chart) save(path string) error {
	b, err := ch.render()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing PNG: %w", err)
	}
	return nil
}

// legendLayout is the legend split into columns, and its box size.
type legendLayout struct {
	cols     []gplot.Legend
	colW     []vg.Length // width of each column
	w, h     vg.Length   // box size, padding included
	pad, gap vg.Length   // inner padding; gap between box and axes
}

const (
	legendPad    = 4 // points
	legendGap    = 5 // points
	legendColGap = 10
)

// legendLayout arranges the entries in ncols columns, filled column by
// column.
func (ch *chart) legendLayout(ncols int) legendLayout {
	n := len(ch.entries)
	ncols = max(1, min(ncols, n))
	rows := (n + ncols - 1) / ncols
	ncols = (n + rows - 1) / rows
	lay := legendLayout{pad: vg.Points(legendPad), gap: vg.Points(legendGap)}
	var entryH vg.Length
	for c := 0; c < ncols; c++ {
		leg := gplot.NewLegend()
		leg.TextStyle.Font.Size = vg.Points(9)
		leg.ThumbnailWidth = vg.Points(22)
		leg.Padding = vg.Points(1)
		leg.Top, leg.Left = true, true
		sty := leg.TextStyle
		var textW vg.Length
		for _, e := range ch.entries[c*rows : min(n, (c+1)*rows)] {
			leg.Add(e.name, e.thumbs...)
			r := sty.Rectangle(e.name)
			textW = max(textW, r.Max.X)
			entryH = max(entryH, r.Max.Y)
		}
		lay.cols = append(lay.cols, leg)
		lay.colW = append(lay.colW, leg.ThumbnailWidth+sty.Rectangle(" ").Max.X+textW)
		lay.w += lay.colW[c]
	}
	lay.w += vg.Length(ncols-1)*vg.Points(legendColGap) + 2*lay.pad
	lay.h = vg.Length(rows)*entryH + vg.Length(rows-1)*lay.cols[0].Padding + 2*lay.pad
	return lay
}

// draw draws the legend box with its top-left corner at the rectangle r.
func (lay legendLayout) draw(c vg.Canvas, r vg.Rectangle) {
	box := draw.Canvas{Canvas: c, Rectangle: r}
	box.FillPolygon(withAlpha(color.White, 0.9), closedRect(r)[:4])
	box.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 0xB0}, Width: vg.Points(0.5)}, closedRect(r))
	x := r.Min.X + lay.pad
	for i, leg := range lay.cols {
		inner := draw.Canvas{Canvas: c, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: r.Min.Y + lay.pad},
			Max: vg.Point{X: x + lay.colW[i], Y: r.Max.Y - lay.pad},
		}}
		leg.Draw(inner)
		x += lay.colW[i] + vg.Points(legendColGap)
	}
}

// canvas returns a blank image of the figure's size and the part of it
// inside a small outer margin, so that labels at the edges are not cut.
func (ch *chart) canvas() (*vgimg.Canvas, draw.Canvas) {
	w := vg.Length(ch.fig.Width) * vg.Inch
	h := vg.Length(ch.fig.Height) * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(ch.fig.DPI), vgimg.UseBackgroundColor(color.White))
	full := draw.Crop(draw.New(img), vg.Points(4), -vg.Points(8), vg.Points(4), -vg.Points(4))
	return img, full
}

// placeLegend resolves the legend position (LegendAuto included) for the
// figure area full and lays the legend out accordingly.
func (ch *chart) placeLegend(full draw.Canvas) (LegendPosition, legendLayout) {
	pos := ch.fig.Legend
	switch {
	case len(ch.entries) == 0 || pos == LegendNone:
		return LegendNone, legendLayout{}
	case pos == LegendBelow:
		return pos, ch.belowLayout(full)
	case pos != LegendAuto:
		return pos, ch.legendLayout(1)
	}
	lay := ch.legendLayout(1)
	pos = ch.autoLegend(full, lay)
	if pos == LegendBelow {
		lay = ch.belowLayout(full)
	}
	return pos, lay
}

// render draws the chart and returns the PNG bytes. Panics from gonum (which
// signals some invalid states that way) are turned into errors.
func (ch *chart) render() (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering: %v", r)
		}
	}()
	img, full := ch.canvas()
	pos, lay := ch.placeLegend(full)
	area := full
	switch pos {
	case LegendRight:
		area = draw.Crop(full, 0, -(lay.w + 2*lay.gap), 0, 0)
	case LegendBelow:
		area = draw.Crop(full, 0, 0, lay.h+lay.gap, 0)
	}
	ch.p.Draw(area)
	if pos != LegendNone {
		data := ch.p.DataCanvas(area)
		var r vg.Rectangle
		if pos == LegendBelow {
			x0 := max(full.Min.X, (data.Min.X+data.Max.X-lay.w)/2)
			r = vg.Rectangle{Min: vg.Point{X: x0, Y: full.Min.Y}, Max: vg.Point{X: x0 + lay.w, Y: full.Min.Y + lay.h}}
		} else {
			r = legendRect(pos, data, lay)
		}
		lay.draw(area.Canvas, r)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// belowLayout uses as many columns as fit in the figure width.
func (ch *chart) belowLayout(full draw.Canvas) legendLayout {
	lay := ch.legendLayout(1)
	for nc := 2; nc <= len(ch.entries); nc++ {
		l := ch.legendLayout(nc)
		if l.w > full.Max.X-full.Min.X {
			break
		}
		lay = l
	}
	return lay
}

func closedRect(r vg.Rectangle) []vg.Point {
	return []vg.Point{
		r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}, r.Min,
	}
}

// legendRect is the legend box for a corner position inside, or for
// LegendRight to the right of, the data canvas.
func legendRect(pos LegendPosition, data draw.Canvas, lay legendLayout) vg.Rectangle {
	var x0, y1 vg.Length
	switch pos {
	case LegendTopLeft, LegendBottomLeft:
		x0 = data.Min.X + lay.gap
	case LegendRight:
		x0 = data.Max.X + 2*lay.gap
	default:
		x0 = data.Max.X - lay.gap - lay.w
	}
	switch pos {
	case LegendBottomLeft, LegendBottomRight:
		y1 = data.Min.Y + lay.gap + lay.h
	default:
		y1 = data.Max.Y - lay.gap
	}
	return vg.Rectangle{Min: vg.Point{X: x0, Y: y1 - lay.h}, Max: vg.Point{X: x0 + lay.w, Y: y1}}
}

// autoLegend picks the first corner (top-left, top-right, bottom-left,
// bottom-right) whose legend box covers no sampled data; failing that, it
// puts the legend outside, right or below, whichever costs the data area
// the smaller fraction of its size. It only reads the plot's axes.
func (ch *chart) autoLegend(full draw.Canvas, lay legendLayout) LegendPosition {
	data := ch.p.DataCanvas(full)
	outside := LegendRight
	if float64(lay.w)/float64(full.Max.X-full.Min.X) > float64(lay.h)/float64(full.Max.Y-full.Min.Y) {
		outside = LegendBelow
	}
	corners := [...]LegendPosition{LegendTopLeft, LegendTopRight, LegendBottomLeft, LegendBottomRight}
	var boxes [len(corners)]vg.Rectangle
	for i, c := range corners {
		boxes[i] = legendRect(c, data, lay)
		if boxes[i].Min.X < data.Min.X || boxes[i].Min.Y < data.Min.Y ||
			boxes[i].Max.X > data.Max.X || boxes[i].Max.Y > data.Max.Y {
			return outside // does not fit inside at all
		}
	}
	var hits [len(corners)]int
	for _, pl := range ch.probes {
		var prev vg.Point
		for j, xy := range pl {
			pt := vg.Point{X: data.X(ch.p.X.Norm(xy.X)), Y: data.Y(ch.p.Y.Norm(xy.Y))}
			if j == 0 {
				prev = pt
			}
			// Sample the segment prev→pt every ~2 points of length.
			dx, dy := float64(pt.X-prev.X), float64(pt.Y-prev.Y)
			steps := min(int(math.Hypot(dx, dy)/2)+1, 1000)
			for s := 1; s <= steps; s++ {
				t := float64(s) / float64(steps)
				q := vg.Point{X: prev.X + vg.Length(t*dx), Y: prev.Y + vg.Length(t*dy)}
				for i := range boxes {
					if inRect(q, boxes[i]) {
						hits[i]++
					}
				}
			}
			prev = pt
		}
	}
	for i, c := range corners {
		if hits[i] == 0 {
			return c
		}
	}
	return outside
}

func inRect(p vg.Point, r vg.Rectangle) bool {
	return p.X >= r.Min.X && p.X <= r.Max.X && p.Y >= r.Min.Y && p.Y <= r.Max.Y
}

// logTicks marks a log axis whose plot coordinates are log10 of the data:
// it labels powers of ten, at most about seven of them, at a step of 1, 2,
// 5, 10, 20, 50... decades; other decades get unlabelled ticks, and ranges
// of at most three decades also get ticks at 2..9 times each power
// (labelled at 2 and 5 when the range spans at most two decades).
type logTicks struct{}

// Ticks implements gonum's plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	e0, e1 := int(math.Floor(lo+1e-9)), int(math.Ceil(hi-1e-9))
	span := e1 - e0
	step := niceStep(float64(span) / 6)
	istep := max(1, int(step))
	var ticks []gplot.Tick
	for e := e0; e <= e1; e++ {
		t := gplot.Tick{Value: float64(e)}
		if span <= 30 || e%istep == 0 {
			if e%istep == 0 {
				t.Label = formatPow(e)
			}
			ticks = append(ticks, t)
		}
		if e == e1 || span > 3 {
			continue
		}
		for m := 2; m <= 9; m++ {
			t := gplot.Tick{Value: float64(e) + math.Log10(float64(m))}
			if span <= 2 && (m == 2 || m == 5) {
				t.Label = strconv.FormatFloat(float64(m)*math.Pow10(e), 'g', -1, 64)
				if e < -3 || e > 4 {
					t.Label = fmt.Sprintf("%de%d", m, e)
				}
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// formatPow formats 10^e compactly: plain decimals for moderate exponents,
// "1e-12" style otherwise.
func formatPow(e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(math.Pow10(e), 'f', -1, 64)
	}
	return fmt.Sprintf("1e%d", e)
}

// niceStep rounds x > 0 up to 1, 2, 2.5 or 5 times a power of ten
// (2.5 only below 10, so that integer steps stay integers).
func niceStep(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	p := math.Pow10(int(math.Floor(math.Log10(x))))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m == 2.5 && p >= 1 {
			continue
		}
		if m*p >= x*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linearTicks marks a linear axis with about six labelled ticks at a nice
// step, and unlabelled ticks halfway between them.
type linearTicks struct{}

// Ticks implements gonum's plot.Ticker.
func (linearTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(hi > lo) {
		return []gplot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 6, 64)}}
	}
	step := niceStep((hi - lo) / 6)
	e := int(math.Floor(math.Log10(step)))
	extra := 0
	if step/math.Pow10(e) == 2.5 {
		extra = 1
	}
	mag := math.Max(math.Abs(lo), math.Abs(hi))
	format := func(v float64) string {
		if math.Abs(v) < step*1e-6 {
			return "0"
		}
		if mag >= 1e6 || mag < 1e-3 {
			digits := min(max(int(math.Floor(math.Log10(mag)))-e+extra, 0), 15)
			return strconv.FormatFloat(v, 'e', digits, 64)
		}
		return strconv.FormatFloat(v, 'f', max(0, -e+extra), 64)
	}
	half := step / 2
	var ticks []gplot.Tick
	for k := math.Ceil(lo/half - 1e-9); k*half <= hi+half*1e-9; k++ {
		t := gplot.Tick{Value: k * half}
		if math.Mod(k, 2) == 0 {
			t.Label = format(t.Value)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// checkFinite reports the first NaN or infinite value of xs.
func checkFinite(series, field string, xs []float64) error {
	for i, v := range xs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: series %q: %s[%d] is %v", ErrInvalidInput, series, field, i, v)
		}
	}
	return nil
}

// checkInterval validates optional per-point interval bounds lo, hi against
// the number of points n.
func checkInterval(series string, n int, lo, hi []float64) error {
	if (lo == nil) != (hi == nil) {
		return fmt.Errorf("%w: series %q: Lo and Hi must be both set or both nil", ErrInvalidInput, series)
	}
	if lo == nil {
		return nil
	}
	if len(lo) != n || len(hi) != n {
		return fmt.Errorf("%w: series %q: Lo has %d and Hi %d values, want %d", ErrInvalidInput, series, len(lo), len(hi), n)
	}
	if err := checkFinite(series, "Lo", lo); err != nil {
		return err
	}
	if err := checkFinite(series, "Hi", hi); err != nil {
		return err
	}
	for i := range lo {
		if lo[i] > hi[i] {
			return fmt.Errorf("%w: series %q: Lo[%d] = %v > Hi[%d] = %v", ErrInvalidInput, series, i, lo[i], i, hi[i])
		}
	}
	return nil
}

// intervals draws vertical error bars with caps.
type intervals struct {
	x, lo, hi []float64
	line      draw.LineStyle
	capWidth  vg.Length
}

// Plot implements gonum's plot.Plotter.
func (iv *intervals) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	for i := range iv.x {
		x, ylo, yhi := trX(iv.x[i]), trY(iv.lo[i]), trY(iv.hi[i])
		c.StrokeLines(iv.line, c.ClipLinesXY([]vg.Point{{X: x, Y: ylo}, {X: x, Y: yhi}})...)
		for _, y := range []vg.Length{ylo, yhi} {
			if c.ContainsY(y) {
				c.StrokeLines(iv.line, c.ClipLinesX([]vg.Point{{X: x - iv.capWidth/2, Y: y}, {X: x + iv.capWidth/2, Y: y}})...)
			}
		}
	}
}

// DataRange implements gonum's plot.DataRanger.
func (iv *intervals) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i := range iv.x {
		xmin, xmax = min(xmin, iv.x[i]), max(xmax, iv.x[i])
		ymin, ymax = min(ymin, iv.lo[i]), max(ymax, iv.hi[i])
	}
	return xmin, xmax, ymin, ymax
}

// Thumbnail implements gonum's plot.Thumbnailer.
func (iv *intervals) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(iv.line, x, c.Min.Y, x, c.Max.Y)
}
