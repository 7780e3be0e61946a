package spans

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// allSpecs are the schemes every test runs on: each null model, payloads
// and the engine schemes.
var allSpecs = []string{
	watermark.DefaultSpec, "kgw:h=1,gamma=0.5", "gumbel:h=4", "tournament:m=30,h=4",
	"kgw:payload_bits=16", "synthid", "vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw",
}

// testScheme binds spec to a key drawn from rng (an engine key for the
// engine schemes).
func testScheme(t testing.TB, rng *rand.Rand, spec string) watermark.Scheme {
	t.Helper()
	c, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	var key *watermark.Key
	if ec, ok := c.(watermark.EngineConfig); ok {
		words := make([]uint64, ec.EngineKeyWords())
		for i := range words {
			words[i] = rng.Uint64()
			if b, ok := c.(interface{ EngineKeyBits() int }); ok && b.EngineKeyBits() < 64 {
				words[i] &= 1<<b.EngineKeyBits() - 1
			}
		}
		key = watermark.NewEngineKey(words, c, "o200k_base", time.Time{})
	} else {
		var s [watermark.SecretSize]byte
		for i := range s {
			s[i] = byte(rng.Uint32())
		}
		key = watermark.NewKey(s, c, "o200k_base", time.Time{})
	}
	s, err := watermark.NewScheme(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// human returns n uniformly random token IDs: text written without the
// key (every text fixed independently of the key is null text).
func human(rng *rand.Rand, n int) []uint32 {
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = uint32(rng.IntN(100000))
	}
	return ids
}

// insertMarked replaces ids[at:at+n] by tokens sampled with s from a toy
// model (40 random candidates per step, normal logits), continuing the
// context of the text before.
func insertMarked(t testing.TB, s watermark.Scheme, rng *rand.Rand, ids []uint32, at, n int) {
	t.Helper()
	cands, logits := make([]uint32, 40), make([]float32, 40)
	for i := at; i < at+n; i++ {
		for j := range cands {
			cands[j], logits[j] = uint32(rng.IntN(100000)), float32(2*rng.NormFloat64())
		}
		id, err := s.SampleLogits(ids[:i], cands, logits, rng)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
}

func newScanner(t testing.TB, s watermark.Scheme) *Scanner {
	t.Helper()
	d, err := detect.New(s, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestWindowPValuesAreSlicedDetection recomputes every window's p-value by
// plain detection of the sliced token sequence (its scored tokens and
// their context) and checks that the scan's smallest window p-value, found
// through prefix sums, is the smallest of them all.
func TestWindowPValuesAreSlicedDetection(t *testing.T) {
	for i, spec := range allSpecs {
		t.Run(spec, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			s := testScheme(t, rng, spec)
			ids := human(rng, 700)
			insertMarked(t, s, rng, ids, 300, 120)
			sc := newScanner(t, s)
			res := sc.Scan(ids, nil)
			obs, pos := sc.Observations()
			n := len(obs)
			if res.Windows != Windows(n, DefaultMinWindow) || res.Windows == 0 {
				t.Fatalf("windows %d, want %d", res.Windows, Windows(n, DefaultMinWindow))
			}
			plain, _ := detect.New(s, detect.Options{})
			h := s.ContextWidth()
			best, count, global := 0.0, 0, 0
			for L := DefaultMinWindow; L < n; L *= 2 {
				for _, a := range starts(n, L, nil) {
					b := a + L
					slice := ids[pos[a]-h : pos[b-1]+1]
					want := plain.Tokens(slice)
					if want.Scored != L {
						// A tuple of the window occurred before it: the
						// scan counts it at its first occurrence only.
						want = firstOccurrences(t, s, ids, pos[a], pos[b-1]+1)
						global++
					}
					if want.Scored != L {
						t.Fatalf("window [%d,%d): %d first occurrences, want %d", a, b, want.Scored, L)
					}
					got := sc.evalWindow(a, b, ids)
					if got.res.Log10P != want.Log10P || got.res.Score != want.Score || got.res.Payload != want.Payload {
						t.Fatalf("window [%d,%d): log10 p %v, sliced detection %v", a, b, got.res.Log10P, want.Log10P)
					}
					best = math.Min(best, want.Log10P)
					count++
				}
			}
			if global > count/2 {
				t.Fatalf("%d of %d windows hold repeats of earlier tuples", global, count)
			}
			if count != res.Windows {
				t.Fatalf("%d windows enumerated, scan reports %d", count, res.Windows)
			}
			local := math.Min(0, best+math.Log10(float64(count)))
			if math.Abs(local-res.LocalLog10P) > 1e-9*math.Max(1, -local) {
				t.Fatalf("local log10 p %v, brute force %v", res.LocalLog10P, local)
			}
			g := plain.Tokens(ids)
			comb := math.Min(0, math.Min(g.Log10P, local)+math.Log10(2))
			if math.Abs(comb-res.Log10P) > 1e-9*math.Max(1, -comb) || res.GlobalLog10P != g.Log10P {
				t.Fatalf("combined log10 p %v, want %v", res.Log10P, comb)
			}
			if own := plain.Tokens(ids[300-h : 420]); own.Log10P > -18 {
				t.Logf("the passage alone has log10 p %.1f: too weak to require a span", own.Log10P)
				return
			}
			if !res.Detected || len(res.Spans) != 1 {
				t.Fatalf("marked passage of 120 tokens: detected %v, spans %+v", res.Detected, res.Spans)
			}
			sp := res.Spans[0]
			if iou := overlap(sp.TokenStart, sp.TokenEnd, 300, 420); iou < 0.5 {
				t.Errorf("span [%d,%d) vs passage [300,420): IoU %.2f", sp.TokenStart, sp.TokenEnd, iou)
			}
		})
	}
}

// firstOccurrences evaluates, independently of the scan, the positions
// [from, to) of ids whose tuple does not occur earlier in ids.
func firstOccurrences(t testing.TB, s watermark.Scheme, ids []uint32, from, to int) detect.Result {
	t.Helper()
	h := s.ContextWidth()
	obs := s.AppendObservations(nil, ids)
	seen := map[watermark.Tuple]bool{}
	var tally detect.Tally
	null := s.Config().Null()
	for i, o := range obs {
		first := !seen[o.Tuple]
		seen[o.Tuple] = true
		if p := i + h; first && p >= from && p < to {
			tally.Add(null, o)
		}
	}
	return detect.Evaluate(s.Config(), s.KeyID(), &tally, 0)
}

// overlap is the intersection over union of [a, b) and [c, d).
func overlap(a, b, c, d int) float64 {
	in := min(b, d) - max(a, c)
	if in <= 0 {
		return 0
	}
	return float64(in) / float64(max(b, d)-min(a, c))
}

// TestDedupInWindows: repeated tuples are counted once in the whole text,
// so a window holds only first occurrences, and a text made of one
// passage repeated is not evidence beyond the passage.
func TestDedupInWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s := testScheme(t, rng, watermark.DefaultSpec)
	part := human(rng, 100)
	insertMarked(t, s, rng, part, 10, 80)
	var ids []uint32
	for range 20 {
		ids = append(ids, part...)
	}
	sc := newScanner(t, s)
	res := sc.Scan(ids, nil)
	g := sc.Global()
	obs, _ := sc.Observations()
	if len(obs) != g.Scored || g.Duplicates == 0 {
		t.Fatalf("%d observations, global scored %d, duplicates %d", len(obs), g.Scored, g.Duplicates)
	}
	single := newScanner(t, s).Scan(part, nil)
	if res.LocalLog10P < single.GlobalLog10P-3 {
		t.Errorf("repeated passage: local log10 p %.1f, far below the passage's own %.1f", res.LocalLog10P, single.GlobalLog10P)
	}
}

// TestMerge: overlapping detected windows form one span, separate
// passages separate spans, in order.
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := testScheme(t, rng, watermark.DefaultSpec)
	ids := human(rng, 4000)
	insertMarked(t, s, rng, ids, 500, 400)
	insertMarked(t, s, rng, ids, 2800, 300)
	sc := newScanner(t, s)
	res := sc.Scan(ids, nil)
	if len(sc.found) < 4 {
		t.Fatalf("only %d detected windows; the test needs overlapping ones", len(sc.found))
	}
	if len(res.Spans) != 2 {
		t.Fatalf("want 2 spans, got %+v", res.Spans)
	}
	for i, want := range [][2]int{{500, 900}, {2800, 3100}} {
		sp := res.Spans[i]
		if iou := overlap(sp.TokenStart, sp.TokenEnd, want[0], want[1]); iou < 0.8 {
			t.Errorf("span %d [%d,%d), passage %v: IoU %.2f", i, sp.TokenStart, sp.TokenEnd, want, iou)
		}
		if sp.WindowStart < sp.TokenStart-512 || sp.ByteStart != -1 || sp.PValue > 1e-6 {
			t.Errorf("span %d: %+v", i, sp)
		}
	}
}

// TestPayloadFromSpan: the payload is decoded from the span's best window,
// not from the whole text, and claimed with the corrected p-value.
func TestPayloadFromSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	s := testScheme(t, rng, "kgw:payload_bits=8")
	p, _ := watermark.CarriesPayload(s)
	const payload = 0xa7
	ps, err := p.WithPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	ids := human(rng, 6000)
	insertMarked(t, ps, rng, ids, 3000, 500)
	sc := newScanner(t, ps)
	res := sc.Scan(ids, nil)
	if !res.Detected || len(res.Spans) != 1 {
		t.Fatalf("detected %v spans %+v", res.Detected, res.Spans)
	}
	sp := res.Spans[0]
	if sp.Evidence.Payload != strconv.FormatUint(payload, 16) || !sp.PayloadClaimed || sp.PayloadPValue == nil {
		t.Fatalf("span payload %q claimed %v, want %x", sp.Evidence.Payload, sp.PayloadClaimed, payload)
	}
	if *sp.PayloadPValue < math.Pow(10, *sp.Evidence.PayloadLog10P) {
		t.Errorf("corrected payload p %g below the window's own %g", *sp.PayloadPValue, math.Pow(10, *sp.Evidence.PayloadLog10P))
	}
	if g := sc.Global(); g.PayloadClaimed {
		t.Logf("note: the whole text claims payload %s too", g.Payload)
	}
}

// TestNullValidity: on text written without the key, under random keys,
// the span test's p-values are not anti-conservative: at each level the
// rate of p <= level stays within three standard errors of the level.
func TestNullValidity(t *testing.T) {
	reps := 400
	if testing.Short() {
		reps = 150
	}
	for i, spec := range []string{watermark.DefaultSpec, "gumbel:h=4", "kgw:payload_bits=16"} {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		ids := human(rng, 800)
		var d *detect.Detector
		var sc *Scanner
		levels := []float64{0.01, 0.05, 0.2}
		hits := make([]int, len(levels))
		for r := 0; r < reps; r++ {
			s := testScheme(t, rng, spec)
			if d == nil {
				d, _ = detect.New(s, detect.Options{})
				sc, _ = New(d, Options{})
			} else if err := d.SetScheme(s); err != nil {
				t.Fatal(err)
			}
			res := sc.Scan(ids, nil)
			for j, a := range levels {
				if res.PValue <= a {
					hits[j]++
				}
			}
			if res.Detected || len(res.Spans) > 0 {
				t.Fatalf("%s: null text detected: %+v", spec, res)
			}
		}
		for j, a := range levels {
			rate := float64(hits[j]) / float64(reps)
			if se := math.Sqrt(a * (1 - a) / float64(reps)); rate > a+3*se {
				t.Errorf("%s: %d of %d p-values <= %g (rate %.3f)", spec, hits[j], reps, a, rate)
			}
		}
	}
}

// TestShortText: a text with fewer observations than the shortest window
// has no windows; the span test is then the global test.
func TestShortText(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := testScheme(t, rng, watermark.DefaultSpec)
	sc := newScanner(t, s)
	for _, n := range []int{0, 1, 20, 32} {
		res := sc.Scan(human(rng, n), nil)
		if res.Windows != 0 || res.Log10P != res.GlobalLog10P || len(res.Spans) != 0 {
			t.Fatalf("%d tokens: %+v", n, res)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("no detector: no error")
	}
	d, _ := detect.New(s, detect.Options{})
	if _, err := New(d, Options{MinWindow: 1}); err == nil {
		t.Error("window 1: no error")
	}
}

// TestWindowsCount checks Windows against a direct count.
func TestWindowsCount(t *testing.T) {
	for _, c := range []struct{ n, min, want int }{
		{32, 32, 0}, {33, 32, 2}, {64, 32, 3}, {100, 32, 6 + 3}, {96, 32, 5 + 2},
	} {
		if got := Windows(c.n, c.min); got != c.want {
			t.Errorf("Windows(%d, %d) = %d, want %d", c.n, c.min, got, c.want)
		}
	}
}

// TestWriteANSI: hostile control characters are escaped, never sent, and
// spans and marks are styled.
func TestWriteANSI(t *testing.T) {
	d := Doc{
		Tokens: []string{"a", "\x1b]0;pwned\x07", "b\n", "c\xff", "\u009b2J"},
		Marks:  []Mark{{Kind: Context}, {Kind: Scored, Level: 1}, {Kind: Repeated}, {Kind: Scored, Level: 0}, {Kind: Scored, Level: 0.5}},
		Result: Result{Spans: []Span{{TokenStart: 1, TokenEnd: 2}}},
	}
	var b strings.Builder
	if err := WriteANSI(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"\x1b]", "\x07", "\xff", "\u009b"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q: %q", bad, out)
		}
	}
	for _, want := range []string{`\u001b]0;pwned\u0007`, `c\xff`, `\u009b2J`, "\x1b[30;48;5;114;4m", "\x1b[2;9mb\x1b[0m\n", "\x1b[2ma"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %q", want, out)
		}
	}
}
