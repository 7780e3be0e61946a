package plot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gplot "gonum.org/v1/plot"
)

const maxPNGBytes = 300 << 10

// checkPNG decodes the PNG at path and checks its size in pixels and bytes,
// that it is not blank, and that it has at least minCount pixels of each
// colour of want (data drawn in the series colours: set minCount above what
// a legend entry alone would draw). It returns the raw bytes.
func checkPNG(t *testing.T, path string, w, h, minCount int, want ...color.RGBA) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > maxPNGBytes {
		t.Errorf("%s: %d bytes, want <= %d", path, len(raw), maxPNGBytes)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: decoding: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s: %dx%d pixels, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	colors := distinctColors(img)
	if len(colors) < 8 {
		t.Errorf("%s: only %d distinct colours, image looks blank", path, len(colors))
	}
	for _, c := range want {
		if n := countColor(colors, c, 8); n < minCount {
			t.Errorf("%s: %d pixels of colour %v, want >= %d (series not drawn?)", path, n, c, minCount)
		}
	}
	return raw
}

func distinctColors(img image.Image) map[color.RGBA]int {
	m := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			m[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return m
}

// countColor counts the pixels within tol of c in every channel.
func countColor(colors map[color.RGBA]int, c color.RGBA, tol int) int {
	near := func(a, b uint8) bool { d := int(a) - int(b); return d >= -tol && d <= tol }
	n := 0
	for k, count := range colors {
		if near(k.R, c.R) && near(k.G, c.G) && near(k.B, c.B) {
			n += count
		}
	}
	return n
}

func rgba(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func uniform(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	p := make([]float64, n)
	for i := range p {
		p[i] = r.Float64()
	}
	return p
}

func TestQQ(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qq.png")
	wm := make([]float64, 500)
	for i := range wm {
		wm[i] = 1e-20 * float64(i) // includes an exact 0 and values below the floor
	}
	series := []PValues{
		{Name: "unwatermarked", P: uniform(1, 2000)},
		{Name: "watermarked", P: wm},
		{Name: "", P: []float64{1, 1, 1}}, // exact ones, no legend entry
	}
	opt := QQOptions{Figure: Figure{Title: "detector calibration"}, BandLevel: 0.95}
	if err := QQ(path, series, opt); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 600, 400, 200, rgba(styleFor(0).color), rgba(styleFor(1).color))

	// The clamping is reported in the title and the legend.
	ch, err := qqChart(series, opt)
	if err != nil {
		t.Fatal(err)
	}
	if title := ch.p.Title.Text; !strings.Contains(title, "detector calibration") || !strings.Contains(title, "p < 1e-12 drawn at 1e-12") {
		t.Errorf("title %q does not report the floor", title)
	}
	var names []string
	for _, e := range ch.entries {
		names = append(names, e.name)
	}
	want := []string{"unwatermarked (n=2000)", "watermarked (n=500, 500 below 1e-12)", "y = x", "95% band (n=3)", "95% band (n=500)", "95% band (n=2000)"}
	if !slices.Equal(names, want) {
		t.Errorf("legend entries\n got %q\nwant %q", names, want)
	}
	if got, want := ch.p.Y.Min, -12.0; got != want {
		t.Errorf("y axis starts at 1e%v, want the floor 1e%v", got, want)
	}
}

func TestQQMillionPoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qq1e6.png")
	p := uniform(2, 1_000_000)
	p[0], p[1] = 0, 1e-300
	start := time.Now()
	err := QQ(path, []PValues{{Name: "null", P: p}}, QQOptions{BandLevel: 0.95})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1e6-point QQ plot rendered in %v", elapsed)
	if elapsed > 10*time.Second { // generous: the machine is shared
		t.Errorf("rendering took %v", elapsed)
	}
	raw := checkPNG(t, path, 600, 400, 200, rgba(styleFor(0).color))
	t.Logf("PNG size %d bytes", len(raw))
	// The input must not have been reordered.
	if p[0] != 0 || p[1] != 1e-300 {
		t.Error("QQ modified its input")
	}
}

func TestThinRanks(t *testing.T) {
	for _, tc := range []struct{ n, m int }{{1, 16}, {16, 16}, {17, 16}, {1000, 100}, {1_000_000, 2000}, {1 << 30, 64}} {
		r := thinRanks(tc.n, tc.m)
		if r[0] != 1 || r[len(r)-1] != tc.n {
			t.Errorf("n=%d m=%d: ranks run from %d to %d, want 1 to n", tc.n, tc.m, r[0], r[len(r)-1])
		}
		if len(r) > tc.m+1 {
			t.Errorf("n=%d m=%d: %d ranks", tc.n, tc.m, len(r))
		}
		if tc.n <= tc.m && len(r) != tc.n {
			t.Errorf("n=%d m=%d: %d ranks, want all", tc.n, tc.m, len(r))
		}
		if !slices.IsSorted(r) || len(slices.Compact(slices.Clone(r))) != len(r) {
			t.Errorf("n=%d m=%d: ranks not strictly increasing", tc.n, tc.m)
		}
		for i := 1; i <= min(tc.n, tc.m/4); i++ {
			if r[i-1] != i {
				t.Errorf("n=%d m=%d: lower-tail rank %d missing", tc.n, tc.m, i)
				break
			}
		}
		// Log-spaced: no gap wider than a fixed ratio beyond the tail.
		if tc.n > tc.m {
			for i := tc.m / 4; i < len(r)-1; i++ {
				if ratio := float64(r[i+1]) / float64(r[i]); ratio > 1.5 {
					t.Errorf("n=%d m=%d: gap %d -> %d", tc.n, tc.m, r[i], r[i+1])
					break
				}
			}
		}
	}
}

func TestOrderStatBand(t *testing.T) {
	// The smallest of n uniforms is Beta(1, n): quantile 1-(1-q)^(1/n);
	// the largest is Beta(n, 1): quantile q^(1/n).
	for _, n := range []int{1, 10, 1000, 1_000_000} {
		lo, hi := orderStatBand(1, n, 0.95)
		wantLo, wantHi := -math.Expm1(math.Log1p(-0.025)/float64(n)), -math.Expm1(math.Log1p(-0.975)/float64(n))
		if math.Abs(lo-wantLo) > 1e-6*wantLo || math.Abs(hi-wantHi) > 1e-6*wantHi {
			t.Errorf("rank 1 of %d: band [%g, %g], want [%g, %g]", n, lo, hi, wantLo, wantHi)
		}
		lo, hi = orderStatBand(n, n, 0.95)
		wantLo, wantHi = math.Pow(0.025, 1/float64(n)), math.Pow(0.975, 1/float64(n))
		if math.Abs(lo-wantLo) > 1e-6 || math.Abs(hi-wantHi) > 1e-6 {
			t.Errorf("rank %d of %d: band [%g, %g], want [%g, %g]", n, n, lo, hi, wantLo, wantHi)
		}
	}
	// The median of 1001 uniforms is close to 1/2 with sd ~ 0.0158.
	lo, hi := orderStatBand(501, 1001, 0.95)
	if math.Abs(lo-(0.5-1.96*0.0158)) > 0.002 || math.Abs(hi-(0.5+1.96*0.0158)) > 0.002 {
		t.Errorf("median band [%g, %g]", lo, hi)
	}
}

// checkInvalid asserts that err is an ErrInvalidInput mentioning path and
// the given text.
func checkInvalid(t *testing.T, name string, err error, path, text string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", name)
	case !errors.Is(err, ErrInvalidInput):
		t.Errorf("%s: error %q does not wrap ErrInvalidInput", name, err)
	case !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), text):
		t.Errorf("%s: error %q should mention %q and %q", name, err, path, text)
	}
	if _, statErr := os.Stat(path); statErr == nil {
		t.Errorf("%s: a file was written despite the error", name)
	}
}

func TestQQInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.png")
	ok := []PValues{{Name: "a", P: []float64{0.5}}}
	for _, tc := range []struct {
		name   string
		series []PValues
		opt    QQOptions
		text   string
	}{
		{"no series", nil, QQOptions{}, "no series"},
		{"empty series", []PValues{{Name: "e"}}, QQOptions{}, `"e" has no p-values`},
		{"NaN", []PValues{{Name: "n", P: []float64{0.1, math.NaN()}}}, QQOptions{}, "p[1] = NaN"},
		{"negative", []PValues{{Name: "n", P: []float64{-0.1}}}, QQOptions{}, "outside [0, 1]"},
		{"above one", []PValues{{Name: "n", P: []float64{1.5}}}, QQOptions{}, "p[0] = 1.5"},
		{"infinite", []PValues{{Name: "n", P: []float64{math.Inf(1)}}}, QQOptions{}, "outside [0, 1]"},
		{"floor", ok, QQOptions{Floor: 1}, "Floor"},
		{"band", ok, QQOptions{BandLevel: 1}, "BandLevel"},
		{"max points", ok, QQOptions{MaxPoints: 3}, "MaxPoints"},
		{"dpi", ok, QQOptions{Figure: Figure{DPI: -1}}, "DPI"},
		{"width", ok, QQOptions{Figure: Figure{Width: 500}}, "width"},
		{"height NaN", ok, QQOptions{Figure: Figure{Height: math.NaN()}}, "height"},
		{"legend", ok, QQOptions{Figure: Figure{Legend: 42}}, "legend"},
	} {
		checkInvalid(t, tc.name, QQ(path, tc.series, tc.opt), path, tc.text)
	}
}

func TestLines(t *testing.T) {
	dir := t.TempDir()
	x := []float64{16, 32, 64, 128, 256, 512}
	series := []XYSeries{
		{Name: "kgw", X: x, Y: []float64{0, 0.1, 0.4, 0.8, 0.95, 1},
			Lo: []float64{0, 0.05, 0.3, 0.7, 0.9, 0.98}, Hi: []float64{0.02, 0.15, 0.5, 0.9, 0.99, 1}},
		{Name: "aar", X: x, Y: []float64{0.05, 0.2, 0.6, 0.9, 0.99, 1}},
		{Name: "single", X: []float64{100}, Y: []float64{0.5}},
	}
	c0, c1, c2 := rgba(styleFor(0).color), rgba(styleFor(1).color), rgba(styleFor(2).color)
	for _, tc := range []struct {
		name     string
		opt      LineOptions
		minCount int // pixels of each colour of want
		want     []color.RGBA
	}{
		{"linear", LineOptions{}, 200, []color.RGBA{c0, c1}},
		{"logx-band", LineOptions{LogX: true, Markers: true, Interval: IntervalBand,
			Figure: Figure{Title: "TPR vs length", XLabel: "tokens", YLabel: "TPR"}}, 200, []color.RGBA{c0, c1}},
		{"logxy-bars", LineOptions{LogX: true, LogY: true, Figure: Figure{Width: 8, Height: 3, DPI: 150, Legend: LegendBelow}}, 200, []color.RGBA{c0, c1}},
		{"legend-right", LineOptions{Figure: Figure{Legend: LegendRight}}, 200, []color.RGBA{c0, c1}},
		// Without a legend, the lone point of "single" must still show.
		{"no-legend", LineOptions{Figure: Figure{Legend: LegendNone}}, 10, []color.RGBA{c0, c1, c2}},
	} {
		path := filepath.Join(dir, tc.name+".png")
		if err := Lines(path, series, tc.opt); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w, h := 600, 400
		if tc.opt.Width != 0 {
			w, h = int(tc.opt.Width*float64(tc.opt.DPI)), int(tc.opt.Height*float64(tc.opt.DPI))
		}
		checkPNG(t, path, w, h, tc.minCount, tc.want...)
	}

	// On a log y axis, the y = 0 point of "kgw" is left out and reported.
	ch, err := linesChart(series, LineOptions{LogY: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ch.entries[0].name; got != "kgw (1 pts <= 0 not shown)" {
		t.Errorf("legend entry %q does not report the skipped point", got)
	}
	if got := ch.entries[1].name; got != "aar" {
		t.Errorf("legend entry %q", got)
	}
	// Axis spans whole decades around the positive values [0.02, 1]
	// (0.02 is a Hi bound; the Lo bounds of 0 are clamped to the axis).
	if ch.p.Y.Min != -2 || ch.p.Y.Max != 0 {
		t.Errorf("log y axis [1e%v, 1e%v], want [1e-2, 1e0]", ch.p.Y.Min, ch.p.Y.Max)
	}
}

func TestLinesInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.png")
	for _, tc := range []struct {
		name   string
		series []XYSeries
		opt    LineOptions
		text   string
	}{
		{"no series", nil, LineOptions{}, "no series"},
		{"empty", []XYSeries{{Name: "e"}}, LineOptions{}, `"e" has no points`},
		{"mismatch", []XYSeries{{Name: "m", X: []float64{1, 2}, Y: []float64{1}}}, LineOptions{}, "2 X values but 1 Y values"},
		{"NaN", []XYSeries{{Name: "n", X: []float64{1}, Y: []float64{math.NaN()}}}, LineOptions{}, "Y[0] is NaN"},
		{"Inf", []XYSeries{{Name: "n", X: []float64{math.Inf(-1)}, Y: []float64{1}}}, LineOptions{}, "X[0] is -Inf"},
		{"lo only", []XYSeries{{Name: "i", X: []float64{1}, Y: []float64{1}, Lo: []float64{0}}}, LineOptions{}, "both set"},
		{"interval length", []XYSeries{{Name: "i", X: []float64{1}, Y: []float64{1}, Lo: []float64{0, 0}, Hi: []float64{2, 2}}}, LineOptions{}, "want 1"},
		{"lo > hi", []XYSeries{{Name: "i", X: []float64{1}, Y: []float64{1}, Lo: []float64{2}, Hi: []float64{0}}}, LineOptions{}, "Lo[0] = 2 > Hi[0] = 0"},
		{"all <= 0 on log", []XYSeries{{Name: "z", X: []float64{1, 2}, Y: []float64{0, -1}}}, LineOptions{LogY: true}, "no point can be drawn"},
		{"interval style", []XYSeries{{Name: "s", X: []float64{1}, Y: []float64{1}}}, LineOptions{Interval: 7}, "interval style"},
	} {
		checkInvalid(t, tc.name, Lines(path, tc.series, tc.opt), path, tc.text)
	}
}

func TestBars(t *testing.T) {
	dir := t.TempDir()
	series := []BarSeries{
		{Name: "opt-1.3b", Values: []float64{10, 12, 11, 10.5}, Lo: []float64{9, 11, 10, 10}, Hi: []float64{11, 13, 12, 11}},
		{Name: "llama", Values: []float64{8, 9, 8.5, -2}},
	}
	path := filepath.Join(dir, "bars.png")
	if err := Bars(path, []string{"none", "kgw", "aar", "kth"}, series, BarOptions{Figure: Figure{Title: "Perplexity", YLabel: "perplexity"}}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 600, 400, 2000, rgba(styleFor(0).color), rgba(styleFor(1).color))

	long := []string{"kgw-selfhash gamma=0.25", "aaronson-kirchenbauer", "kuditipudi-thickstun", "unigram-zhao"}
	ch, err := barsChart(long, series, BarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.p.X.Tick.Label.Rotation == 0 {
		t.Error("long category names are not slanted")
	}
	path = filepath.Join(dir, "bars-long.png")
	if err := Bars(path, long, series, BarOptions{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 600, 400, 2000, rgba(styleFor(0).color), rgba(styleFor(1).color))
}

func TestBarsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.png")
	cats := []string{"a", "b"}
	for _, tc := range []struct {
		name   string
		cats   []string
		series []BarSeries
		text   string
	}{
		{"no categories", nil, []BarSeries{{Name: "s"}}, "no categories"},
		{"no series", cats, nil, "no series"},
		{"mismatch", cats, []BarSeries{{Name: "s", Values: []float64{1}}}, "1 values for 2 categories"},
		{"NaN", cats, []BarSeries{{Name: "s", Values: []float64{1, math.NaN()}}}, "Values[1] is NaN"},
		{"lo > hi", cats, []BarSeries{{Name: "s", Values: []float64{1, 1}, Lo: []float64{0, 3}, Hi: []float64{2, 2}}}, "Lo[1] = 3 > Hi[1] = 2"},
	} {
		checkInvalid(t, tc.name, Bars(path, tc.cats, tc.series, BarOptions{}), path, tc.text)
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	render := func(i int) [3][]byte {
		var out [3][]byte
		paths := [3]string{}
		for k := range paths {
			paths[k] = filepath.Join(dir, string(rune('a'+k))+string(rune('0'+i))+".png")
		}
		p := uniform(3, 20000)
		if err := QQ(paths[0], []PValues{{Name: "a", P: p}, {Name: "b", P: p[:300]}}, QQOptions{BandLevel: 0.9}); err != nil {
			t.Fatal(err)
		}
		if err := Lines(paths[1], []XYSeries{{Name: "l", X: []float64{1, 2, 3}, Y: []float64{3, 1, 2}, Lo: []float64{2, 0, 1}, Hi: []float64{4, 2, 3}}}, LineOptions{Markers: true, Interval: IntervalBand}); err != nil {
			t.Fatal(err)
		}
		if err := Bars(paths[2], []string{"x", "y"}, []BarSeries{{Name: "b", Values: []float64{1, 2}}}, BarOptions{}); err != nil {
			t.Fatal(err)
		}
		for k, path := range paths {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = b
		}
		return out
	}
	first, second := render(0), render(1)
	for k := range first {
		if !bytes.Equal(first[k], second[k]) {
			t.Errorf("plot %d: output differs between identical calls", k)
		}
	}
}

func TestWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "qq.png")
	err := QQ(path, []PValues{{Name: "a", P: []float64{0.5}}}, QQOptions{})
	if err == nil || errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), path) {
		t.Errorf("writing into a missing directory: got %v, want an I/O error naming %s", err, path)
	}
}

func TestAutoLegend(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	up := make([]float64, len(x))
	down := make([]float64, len(x))
	for i := range x {
		up[i], down[i] = x[i], 10-x[i]
	}
	for _, tc := range []struct {
		name   string
		series []XYSeries
		want   LegendPosition
	}{
		{"rising", []XYSeries{{Name: "up", X: x, Y: up}}, LegendTopLeft},
		{"falling", []XYSeries{{Name: "down", X: x, Y: down}}, LegendTopRight},
		{"both", []XYSeries{{Name: "up", X: x, Y: up}, {Name: "down", X: x, Y: down}}, LegendBelow},
	} {
		ch, err := linesChart(tc.series, LineOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, full := ch.canvas()
		if got, _ := ch.placeLegend(full); got != tc.want && !(tc.want == LegendBelow && got == LegendRight) {
			t.Errorf("%s: legend placed at %d, want %d", tc.name, got, tc.want)
		}
	}
}

func tickLabels(ticks []gplot.Tick) []string {
	var out []string
	for _, tk := range ticks {
		if tk.Label != "" {
			out = append(out, tk.Label)
		}
	}
	return out
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ticker gplot.Ticker
		lo, hi float64
		want   []string
	}{
		{"log 1e-12..1", logTicks{}, -12, 0, []string{"1e-12", "1e-10", "1e-8", "1e-6", "1e-4", "0.01", "1"}},
		{"log 10..1000", logTicks{}, 1, 3, []string{"10", "20", "50", "100", "200", "500", "1000"}},
		{"log 1e-300..1", logTicks{}, -300, 0, []string{"1e-300", "1e-250", "1e-200", "1e-150", "1e-100", "1e-50", "1"}},
		{"linear 0..26.25", linearTicks{}, 0, 26.25, []string{"0", "5", "10", "15", "20", "25"}},
		{"linear 0..1", linearTicks{}, 0, 1, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{"linear -3..3", linearTicks{}, -3, 3, []string{"-3", "-2", "-1", "0", "1", "2", "3"}},
		{"linear big", linearTicks{}, 0, 3e6, []string{"0", "5.0e+05", "1.0e+06", "1.5e+06", "2.0e+06", "2.5e+06", "3.0e+06"}},
	} {
		if got := tickLabels(tc.ticker.Ticks(tc.lo, tc.hi)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: labels %q, want %q", tc.name, got, tc.want)
		}
	}
}
