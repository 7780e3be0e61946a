// Package spans finds a watermarked passage inside a long text: beside
// the whole-text test it scans windows of the text's counted observations
// (dyadic lengths from MinWindow up, each at a stride of half its length),
// scores every window with the detector's exact test, corrects the best
// window for the number of windows tested (Bonferroni), and combines the
// global and the local test into one p-value, 2·min(p_global, p_local),
// that is valid whatever the text (docs/spans.md). Detected windows that
// overlap merge into one reported span, with token and byte offsets.
package spans

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// DefaultMinWindow is the shortest window, in counted observations.
const DefaultMinWindow = 32

// Options configure a Scanner.
type Options struct {
	// MinWindow is the shortest window length in counted observations; 0
	// means DefaultMinWindow. Window lengths are MinWindow·2^j, up to
	// (excluding) the number of counted observations.
	MinWindow int
}

// Result is the evidence of the span test for one text. JSON field names
// are part of the CLI contract (docs/spans.md).
type Result struct {
	// Detected: PValue <= Alpha.
	Detected bool `json:"detected"`
	// PValue is the combined test: min(1, 2·min(GlobalPValue, LocalPValue)),
	// or GlobalPValue when the text is too short for any window.
	PValue float64 `json:"p_value"`
	Log10P float64 `json:"log10_p"`
	// GlobalLog10P is the whole-text test (detect.Detector.Tokens).
	GlobalPValue float64 `json:"global_p_value"`
	GlobalLog10P float64 `json:"global_log10_p"`
	// LocalPValue is min(1, Windows · the smallest window p-value).
	LocalPValue float64 `json:"local_p_value"`
	LocalLog10P float64 `json:"local_log10_p"`
	// Windows is how many windows were tested (the Bonferroni factor).
	Windows int `json:"windows"`
	// MinWindow is the shortest window length in observations.
	MinWindow int     `json:"min_window"`
	Alpha     float64 `json:"alpha"`
	// Spans are the detected passages, in text order: windows whose
	// corrected p-value 2·Windows·p is at most Alpha, each overlapping
	// group merged into the span of its best window. Empty when no window is significant on its own (the text may
	// still be Detected through the global test).
	Spans []Span `json:"spans"`
}

// Span is one detected passage.
type Span struct {
	// TokenStart and TokenEnd delimit the passage's scored tokens,
	// [TokenStart, TokenEnd) as indices of the text's tokens.
	TokenStart int `json:"token_start"`
	TokenEnd   int `json:"token_end"`
	// ByteStart and ByteEnd delimit the same tokens in the tokenized text
	// (-1 when the tokens came without text, such as token-ID input).
	ByteStart int `json:"byte_start"`
	ByteEnd   int `json:"byte_end"`
	// PValue is the span's corrected p-value: min(1, 2·Windows·p) for its
	// best window's p. Comparing it with Alpha keeps the family-wise error
	// of all reported spans at Alpha.
	PValue float64 `json:"p_value"`
	Log10P float64 `json:"log10_p"`
	// Window is the best (smallest p) tested window inside the span, in
	// token indices, and Evidence its uncorrected test result: the
	// decoded payload of payload schemes is decoded from this window
	// alone, and its PayloadPValue is corrected below.
	WindowStart int           `json:"window_start"`
	WindowEnd   int           `json:"window_end"`
	Evidence    detect.Result `json:"evidence"`
	// PayloadPValue is the window's payload p-value corrected like PValue
	// (nil without a payload); PayloadClaimed is PayloadPValue <= Alpha.
	PayloadPValue  *float64 `json:"payload_p_value"`
	PayloadClaimed bool     `json:"payload_claimed"`
}

// window is one tested window, [start, end) in observation indices.
type window struct {
	start, end int
	lnP        float64
	res        detect.Result
}

// Scanner runs the span test with one detector. It reuses its buffers and
// is not safe for concurrent use.
type Scanner struct {
	det     *detect.Detector
	null    watermark.Null
	minWin  int
	pos     []int
	prefix  []float64
	obs     []watermark.Observation
	tally   detect.Tally
	found   []window
	offsets []int
	bytes   []byte
	global  detect.Result
	levels  []int
	starts  []int
	// Payload screening (payloadLevel): the blocks of the current level and of the
	// next (blockSet); the fold counts of the blocks of fblockLen
	// ([block][fold][slot][colour]); a window's counts and fold counts,
	// zero counts, a window's slot sizes, largest counts and the split of
	// bound; tails[n] caches, interleaved, ln P(M ≥ t) and
	// ln P(Bin(n, 1/radix) ≥ t) for a slot of n tuples, radix tailRadix;
	// lbs holds a window's bounds in exhaustive scans.
	cur, next  blockSet
	fblocks    []int32
	fblockLen  int
	counts     []int32
	foldCounts []int32
	zero       []int32
	slotN      []int32
	top        []int32
	alloc      []int32
	tails      [][]float64
	tailRadix  int
	lbs        []float64
	// noSums: the next level's blocks get no B, as the bound from G and
	// B pruned under half of the windows it was tried on (it only
	// weakens as windows grow); tried and cleared count its use.
	noSums         bool
	tried, cleared int
	// evaluated and pruned count the payload windows evaluated exactly
	// and skipped by their bound, over the scanner's life; exhaustive
	// evaluates every window, computes all its bounds, and excess is the
	// largest amount by which a window's lower bound exceeded its exact
	// ln p-value, over checked bounds (tests).
	evaluated, pruned int
	exhaustive        bool
	excess            float64
	checked           int
}

// New returns a Scanner that tests with d (its scheme, key and options).
func New(d *detect.Detector, opts Options) (*Scanner, error) {
	if d == nil {
		return nil, errors.New("spans: no detector")
	}
	if opts.MinWindow == 0 {
		opts.MinWindow = DefaultMinWindow
	}
	if opts.MinWindow < 2 {
		return nil, fmt.Errorf("spans: minimum window must be at least 2 observations, got %d", opts.MinWindow)
	}
	return &Scanner{det: d, null: d.Scheme().Config().Null(), minWin: opts.MinWindow}, nil
}

// Detector returns the scanner's detector.
func (s *Scanner) Detector() *detect.Detector { return s.det }

// Global returns the whole-text result of the last scan.
func (s *Scanner) Global() detect.Result { return s.global }

// Observations returns the counted observations of the last scan and, for
// each, the index of its token (the detector's own observations, valid
// until the next scan or the detector's next use).
func (s *Scanner) Observations() ([]watermark.Observation, []int) { return s.obs, s.pos }

// Text tokenizes text with tok and scans it, with byte offsets into text
// (as tokenized: invalid UTF-8 counts as its U+FFFD replacement).
func (s *Scanner) Text(tok tokenize.Tokenizer, text string) (Result, []uint32, error) {
	ids, err := tok.AppendEncode(nil, text)
	if err != nil {
		return Result{}, nil, err
	}
	s.offsets, err = tokenize.AppendByteOffsets(s.offsets[:0], tok, ids)
	if err != nil {
		return Result{}, nil, err
	}
	return s.Scan(ids, s.offsets), ids, nil
}

// Windows returns how many windows a text with n counted observations has
// with minimum window length minWin: for each length L = minWin·2^j < n,
// the windows starting at 0, L/2, 2·L/2, ... that fit, plus one ending at
// n when the last does not. It depends only on n, never on the key.
func Windows(n, minWin int) int {
	m := 0
	for L := minWin; L < n; L *= 2 {
		stride := max(L/2, 1)
		m += (n-L)/stride + 1
		if (n-L)%stride != 0 {
			m++
		}
	}
	return m
}

// starts appends the window starts of length L over n observations.
func starts(n, L int, dst []int) []int {
	stride := max(L/2, 1)
	s := 0
	for ; s+L <= n; s += stride {
		dst = append(dst, s)
	}
	if last := n - L; last >= 0 && (len(dst) == 0 || dst[len(dst)-1] != last) {
		dst = append(dst, last)
	}
	return dst
}

// Scan tests ids. offsets, if not nil, holds len(ids)+1 byte offsets
// (tokenize.AppendByteOffsets) for the spans' byte ranges.
func (s *Scanner) Scan(ids []uint32, offsets []int) Result {
	d := s.det
	s.global, s.pos = d.TokensPositions(ids, s.pos)
	s.obs = d.Observations()
	alpha := d.Alpha()
	n := len(s.obs)
	gln := s.global.Log10P * math.Ln10
	res := Result{
		GlobalPValue: s.global.PValue, GlobalLog10P: s.global.Log10P,
		MinWindow: s.minWin, Alpha: alpha, LocalPValue: 1, Spans: []Span{},
	}
	m := Windows(n, s.minWin)
	res.Windows = m
	if m == 0 {
		res.PValue, res.Log10P, res.Detected = s.global.PValue, s.global.Log10P, s.global.Detected
		return res
	}
	lnM := math.Log(float64(m))
	// The smallest window p-value, level by level.
	best := 0.0
	bestLevel := s.levels[:0]
	st := s.starts[:0]
	if s.null.Kind != watermark.PayloadNull {
		s.prefix = append(s.prefix[:0], 0)
		sum := 0.0
		for _, o := range s.obs {
			sum += o.Score
			s.prefix = append(s.prefix, sum)
		}
	}
	if s.null.Kind == watermark.PayloadNull {
		s.cur.size, s.next.size, s.fblockLen, s.noSums = 0, 0, 0, false
	}
	lnThr := math.Log(alpha) - math.Ln2 - lnM // a window is a detection below this
	s.found = s.found[:0]
	for L := s.minWin; L < n; L *= 2 {
		st = starts(n, L, st[:0])
		if s.null.Kind == watermark.PayloadNull {
			best = math.Min(best, s.payloadLevel(L, st, lnThr, ids))
			continue
		}
		// Every window of a level has L observations, and the exact
		// p-value falls as the sum grows: the largest sum is the level's
		// smallest p-value, found from prefix sums in O(n/L).
		arg, top := -1, math.Inf(-1)
		for _, a := range st {
			if v := s.prefix[a+L] - s.prefix[a]; v > top {
				arg, top = a, v
			}
		}
		w := s.evalWindow(arg, arg+L, ids)
		best = math.Min(best, w.lnP)
		if w.lnP <= lnThr {
			bestLevel = append(bestLevel, L)
		}
	}
	for _, L := range bestLevel {
		// A significant level: every window of it is evaluated (only in
		// texts that carry a mark).
		st = starts(n, L, st[:0])
		for _, a := range st {
			if w := s.evalWindow(a, a+L, ids); w.lnP <= lnThr {
				s.found = append(s.found, w)
			}
		}
	}
	local := math.Min(0, best+lnM)
	comb := math.Min(0, math.Min(gln, local)+math.Ln2)
	res.LocalPValue, res.LocalLog10P = math.Exp(local), stats.Log10(local)+0
	res.PValue, res.Log10P = math.Exp(comb), stats.Log10(comb)+0
	res.Detected = comb <= math.Log(alpha)
	res.Spans = s.merge(m, offsets)
	s.levels, s.starts = bestLevel, st
	return res
}

// pruneMargin (nats) is the margin by which a window's lower bound on its
// ln p-value must exceed the detection threshold for the window to be
// skipped: far above the rounding error of the exact test's arithmetic.
const pruneMargin = 1e-6

// payloadLevel scans the payload windows of length L starting at st and
// returns the smallest ln p-value evaluated. The payload p-value is no
// function of one sum, and its exact law (payload-max-exact) costs a
// convolution, so each window first gets provable lower bounds on its
// p-value (screen), cheapest first; a window whose bound is above the
// detection threshold lnThr cannot be a detection and is not evaluated,
// and every other window is evaluated exactly. Skipping a window can only
// raise the reported local p-value, and no window that is a detection is
// ever skipped (docs/spans.md).
//
// A window of even length L that starts at a multiple of L/2 is the union
// of two consecutive blocks of L/2 tuples (s.cur), and when it starts at
// a multiple of L it is a block of L (s.next); each level's blocks are
// pairs of the previous level's (levelBlocks). The window that ends at
// the text's end, and every window of an odd length, is counted directly.
func (s *Scanner) payloadLevel(L int, st []int, lnThr float64, ids []uint32) float64 {
	radix, slots := s.null.Radix, s.null.Slots
	s.resetPayload(slots, radix)
	h := L / 2
	if L%2 == 0 {
		s.levelBlocks(h, slots, radix)
	} else {
		s.cur.size, s.next.size = 0, 0
	}
	best := 0.0
	cut := lnThr + pruneMargin
	s.tried, s.cleared = 0, 0
	for _, a := range st {
		s.lbs = s.lbs[:0]
		if s.screen(a, L, cut) && !s.exhaustive {
			s.pruned++
			continue // cannot be a detection
		}
		w := s.evalWindow(a, a+L, ids)
		s.evaluated++
		for _, lb := range s.lbs {
			s.excess = math.Max(s.excess, lb-w.lnP)
		}
		s.checked += len(s.lbs)
		best = math.Min(best, w.lnP)
		if w.lnP <= lnThr {
			s.found = append(s.found, w)
		}
	}
	s.noSums = 2*s.cleared < s.tried && !s.exhaustive
	return best
}

// screen reports whether a lower bound on the exact ln p-value of the
// window [a, a+L) exceeds cut. Each bound rests on the observed split:
// with n_j tuples and largest colour count t_j in slot j, the support
// S = Σ_j M_j is at least s = Σ_j t_j whenever every M_j ≥ t_j, and the
// slots are independent under the null, so P(S ≥ s) ≥ Π_j P(M_j ≥ t_j),
// which falls as any t_j grows. In the order tried:
//
//   - A window that is a block of s.next: its own Π_j P(M_j ≥ t_j) (the
//     block's G), O(1).
//   - A window that is two blocks of s.cur, from their sums alone, O(1):
//     with the window's slot j made of x tuples of the first block
//     (largest count t') and y of the second (t”), P(M_j ≥ t_j) ≥
//     P(M_j ≥ t'+t”) ≥ P(M_x ≥ t')·P(B_y ≥ t”), B_y ~ Binomial(y,
//     1/radix): the first block's most frequent colour gains t” tuples
//     of the second with that chance, independently. The product over
//     slots is G' + B” (the blocks' sums of ln P(M ≥ t) and ln P(B ≥ t)),
//     or B' + G”.
//   - From the two blocks' slot sizes and largest counts, O(slots):
//     Π_j P(M_j ≥ min(t'+t”, n_j)).
//   - From the window's counts, O(slots·radix): the observed split.
//   - If that is not enough, a greedy other split (bound).
//
// A window with a slot beyond the exact law's size is tested by the
// payload test's fold and Bonferroni bounds instead (foldBound), from the
// blocks' fold counts or its own tuples. In exhaustive scans every bound
// is recorded in s.lbs for the caller to check against the exact value.
func (s *Scanner) screen(a, L int, cut float64) bool {
	radix, slots := s.null.Radix, s.null.Slots
	e := slots * radix
	pass := func(lb float64) bool {
		if s.exhaustive {
			s.lbs = append(s.lbs, lb)
		}
		return lb > cut
	}
	h := L / 2
	cur, next := &s.cur, &s.next
	k := 0
	aligned := cur.size == h && h > 0 && a%h == 0
	if aligned {
		k = a / h
		aligned = k+1 < cur.nb
	}
	if aligned && k%2 == 0 && next.size == L && k/2 < next.nb && next.most[k/2] <= stats.MaxCountLimit {
		// The window is block k/2 of the next level: its exact
		// observed-split bound, then the greedy split.
		i := k / 2
		if pass(next.g[i]) && !s.exhaustive {
			return true
		}
		copy(s.slotN, next.n[i*slots:(i+1)*slots])
		copy(s.top, next.top[i*slots:(i+1)*slots])
		return pass(math.Max(next.g[i], s.bound()))
	}
	var x, y []int32 // the window's counts as the sum of two rows
	folded := false  // s.foldCounts holds the window's fold counts
	if aligned {
		if cur.sums && cur.most[k]+cur.most[k+1] <= stats.MaxCountLimit {
			lb := math.Max(cur.g[k]+cur.b[k+1], cur.b[k]+cur.g[k+1])
			s.tried++
			if pass(lb) {
				s.cleared++
				if !s.exhaustive {
					return true
				}
			}
		}
		acc := splitBound{small: true}
		nx, ny := cur.n[k*slots:(k+1)*slots], cur.n[(k+1)*slots:(k+2)*slots]
		tx, ty := cur.top[k*slots:(k+1)*slots], cur.top[(k+1)*slots:(k+2)*slots]
		for j := range nx {
			n := nx[j] + ny[j]
			s.addSlot(&acc, n, min(tx[j]+ty[j], n))
		}
		support, lb := acc.support, acc.lb
		if !acc.small {
			// support is an upper bound on the window's support.
			s.foldBlocksOf(h, e)
			fe := watermark.PayloadFolds * e
			fc := s.window(s.foldCounts, s.fblocks[k*fe:(k+1)*fe], s.fblocks[(k+1)*fe:(k+2)*fe])
			return pass(s.foldBound(fc, support, L))
		}
		if pass(lb) && !s.exhaustive {
			return true
		}
		x, y = cur.counts[k*e:(k+1)*e], cur.counts[(k+1)*e:(k+2)*e]
	} else if k0 := (a + h - 1) / h; cur.size == h && h > 0 && (k0+1)*h <= len(s.obs) && L > stats.MaxCountLimit {
		// The window ending at the text's end holds block k0 whole:
		// its counts (by fold where the level has fold blocks) and the
		// tuples before and after it, half the window.
		if s.fblockLen == h {
			fe := watermark.PayloadFolds * e
			copy(s.foldCounts, s.fblocks[k0*fe:(k0+1)*fe])
			for _, part := range [2][]watermark.Observation{s.obs[a : k0*h], s.obs[(k0+1)*h : a+L]} {
				for _, o := range part {
					s.foldCounts[int(o.Bits%watermark.PayloadFolds)*e+int(o.Slot)*radix+int(o.Colour)]++
				}
			}
			s.sumFolds()
			folded = true
		} else {
			copy(s.counts, cur.counts[k0*e:(k0+1)*e])
			for _, part := range [2][]watermark.Observation{s.obs[a : k0*h], s.obs[(k0+1)*h : a+L]} {
				for _, o := range part {
					s.counts[int(o.Slot)*radix+int(o.Colour)]++
				}
			}
		}
		x, y = s.counts, s.zero
	} else if L > stats.MaxCountLimit {
		// A slot may be beyond the exact law: count by fold in one pass,
		// and the counts from the fold counts.
		fc := s.foldCounts
		clear(fc)
		for _, o := range s.obs[a : a+L] {
			fc[int(o.Bits%watermark.PayloadFolds)*e+int(o.Slot)*radix+int(o.Colour)]++
		}
		s.sumFolds()
		x, y, folded = s.counts, s.zero, true
	} else {
		clear(s.counts)
		for _, o := range s.obs[a : a+L] {
			s.counts[int(o.Slot)*radix+int(o.Colour)]++
		}
		x, y = s.counts, s.zero
	}
	acc := splitBound{small: true}
	for j := 0; j < slots; j++ {
		t, m := int32(0), int32(0)
		xs, ys := x[j*radix:(j+1)*radix], y[j*radix:(j+1)*radix]
		for c, v := range xs {
			v += ys[c]
			t, m = max(t, v), m+v
		}
		s.top[j], s.slotN[j] = t, m
		s.addSlot(&acc, m, t)
	}
	support, lb := acc.support, acc.lb
	if !acc.small {
		fc := s.foldCounts
		if !folded {
			clear(fc)
			for _, o := range s.obs[a : a+L] {
				fc[int(o.Bits%watermark.PayloadFolds)*e+int(o.Slot)*radix+int(o.Colour)]++
			}
		}
		return pass(s.foldBound(fc, support, L))
	}
	if pass(lb) && !s.exhaustive {
		return true
	}
	return pass(math.Max(lb, s.bound()))
}

// sumFolds sets s.counts to the sums over folds of s.foldCounts.
func (s *Scanner) sumFolds() {
	e := len(s.counts)
	copy(s.counts, s.foldCounts[:e])
	for f := 1; f < watermark.PayloadFolds; f++ {
		for c, v := range s.foldCounts[f*e : (f+1)*e] {
			s.counts[c] += v
		}
	}
}

// splitBound accumulates the observed-split bound over a window's slots:
// lb = Σ_j ln P(M_j ≥ t_j) while small (every slot so far within the exact
// law's size), and the support Σ_j t_j.
type splitBound struct {
	small   bool
	lb      float64
	support int
}

// addSlot adds a slot of n tuples with largest count (or bound on it) t.
func (s *Scanner) addSlot(acc *splitBound, n, t int32) {
	acc.support += int(t)
	if n > stats.MaxCountLimit {
		acc.small = false
	} else if acc.small {
		acc.lb += s.tailsOf(int(n))[2*t]
	}
}

// window returns dst = x + y, elementwise.
func (s *Scanner) window(dst, x, y []int32) []int32 {
	dst = dst[:len(x)]
	for c := range dst {
		dst[c] = x[c] + y[c]
	}
	return dst
}

// blockSet holds the colour counts of the consecutive blocks of size
// tuples of a text ([block][slot][colour], the whole blocks only, nb of
// them) with each block's slot sizes and largest counts ([block][slot]),
// its largest slot, and (screen) G = Σ_j ln P(M_j ≥ t_j) and
// B = Σ_j ln P(B_j ≥ t_j) over its slots (when its largest slot is within
// the exact law's size; B only when sums).
type blockSet struct {
	size, nb  int
	counts    []int32
	n, top    []int32
	most      []int32
	g, b      []float64
	sums      bool
	slots, rd int
}

// reset sizes the set for nb blocks of size tuples.
func (bs *blockSet) reset(size, nb, slots, radix int, sums bool) {
	e := slots * radix
	bs.size, bs.nb, bs.slots, bs.rd, bs.sums = size, nb, slots, radix, sums
	bs.counts = resize(bs.counts, nb*e)
	bs.n, bs.top = resize(bs.n, nb*slots), resize(bs.top, nb*slots)
	bs.most, bs.g, bs.b = resize(bs.most, nb), resize(bs.g, nb), resize(bs.b, nb)
}

// levelBlocks makes s.cur the blocks of h tuples and s.next those of 2h,
// reusing the previous level's s.next as s.cur where it is at hand.
func (s *Scanner) levelBlocks(h, slots, radix int) {
	n := len(s.obs)
	if s.next.size == h && s.next.slots == slots && s.next.rd == radix {
		s.cur, s.next = s.next, s.cur
	} else {
		s.cur.reset(h, n/h, slots, radix, !s.noSums)
		s.fromTuples(&s.cur)
	}
	s.next.reset(2*h, n/(2*h), slots, radix, !s.noSums)
	s.pairs(&s.next, &s.cur)
}

// fromTuples counts the blocks of bs from the tuples, with their slot
// sizes and largest counts in the same pass over each block's tuples.
func (s *Scanner) fromTuples(bs *blockSet) {
	e, slots, radix, h := bs.slots*bs.rd, bs.slots, bs.rd, bs.size
	clear(bs.counts)
	clear(bs.n)
	clear(bs.top)
	for k := 0; k < bs.nb; k++ {
		b := bs.counts[k*e : (k+1)*e]
		ns, ts := bs.n[k*slots:(k+1)*slots], bs.top[k*slots:(k+1)*slots]
		for _, o := range s.obs[k*h : (k+1)*h] {
			j := int(o.Slot)
			c := j*radix + int(o.Colour)
			v := b[c] + 1
			b[c] = v
			ns[j]++
			ts[j] = max(ts[j], v)
		}
		s.summarize(bs, k)
	}
}

// pairs makes the blocks of dst the sums of pairs of src's.
func (s *Scanner) pairs(dst, src *blockSet) {
	e, radix, slots := src.slots*src.rd, src.rd, src.slots
	for i := 0; i < dst.nb; i++ {
		d := dst.counts[i*e : (i+1)*e]
		x, y := src.counts[2*i*e:(2*i+1)*e], src.counts[(2*i+1)*e:(2*i+2)*e]
		ns, ts := dst.n[i*slots:(i+1)*slots], dst.top[i*slots:(i+1)*slots]
		if radix == 4 {
			for j := range ns {
				r, x, y := d[4*j:4*j+4], x[4*j:4*j+4], y[4*j:4*j+4]
				a0, a1, a2, a3 := x[0]+y[0], x[1]+y[1], x[2]+y[2], x[3]+y[3]
				r[0], r[1], r[2], r[3] = a0, a1, a2, a3
				ts[j], ns[j] = max(a0, a1, a2, a3), a0+a1+a2+a3
			}
		} else {
			for j := range ns {
				lo, hi := j*radix, (j+1)*radix
				ts[j], ns[j] = addRows(d[lo:hi], x[lo:hi], y[lo:hi])
			}
		}
		s.summarize(dst, i)
	}
}

// summarize sets block k's largest slot, G and B (blockSet).
func (s *Scanner) summarize(bs *blockSet, k int) {
	g, b, most := 0.0, 0.0, int32(0)
	ns, ts := bs.n[k*bs.slots:(k+1)*bs.slots], bs.top[k*bs.slots:(k+1)*bs.slots]
	for _, m := range ns {
		most = max(most, m)
	}
	if most <= stats.MaxCountLimit {
		for j, m := range ns {
			if m > 0 {
				tv := s.tailsOf(int(m))[2*ts[j]:]
				g, b = g+tv[0], b+tv[1]
			}
		}
	}
	bs.g[k], bs.b[k], bs.most[k] = g, b, most
}

// addRows sets row = x + y elementwise (one slot's colour counts) and
// returns the largest count and the sum, in independent chains of two or
// four colours (radix 2, 4, 8 or 16).
func addRows(row, x, y []int32) (top, sum int32) {
	if len(row) == 2 {
		x, y := x[:2], y[:2]
		a0, a1 := x[0]+y[0], x[1]+y[1]
		row[0], row[1] = a0, a1
		return max(a0, a1), a0 + a1
	}
	for c := 0; c+4 <= len(row); c += 4 {
		r, x, y := row[c:c+4], x[c:c+4], y[c:c+4]
		a0, a1, a2, a3 := x[0]+y[0], x[1]+y[1], x[2]+y[2], x[3]+y[3]
		r[0], r[1], r[2], r[3] = a0, a1, a2, a3
		top, sum = max(top, a0, a1, a2, a3), sum+a0+a1+a2+a3
	}
	return top, sum
}

// foldBlocksOf makes s.fblocks the fold counts (fe = PayloadFolds·slots·
// radix each) of the consecutive blocks of h tuples, from the previous
// level's where they are at hand, and returns how many.
func (s *Scanner) foldBlocksOf(h, e int) int {
	nb := len(s.obs) / h
	if s.fblockLen == h {
		return nb
	}
	fe, radix := watermark.PayloadFolds*e, s.null.Radix
	if s.fblockLen > 0 && 2*s.fblockLen == h {
		for i := 0; i < nb; i++ {
			s.window(s.fblocks[i*fe:(i+1)*fe], s.fblocks[2*i*fe:(2*i+1)*fe], s.fblocks[(2*i+1)*fe:(2*i+2)*fe])
		}
	} else {
		s.fblocks = resize(s.fblocks, nb*fe)
		clear(s.fblocks)
		for k := 0; k < nb; k++ {
			b := s.fblocks[k*fe : (k+1)*fe]
			for _, o := range s.obs[k*h : (k+1)*h] {
				b[int(o.Bits%watermark.PayloadFolds)*e+int(o.Slot)*radix+int(o.Colour)]++
			}
		}
	}
	s.fblockLen = h
	return nb
}

// foldBound returns a lower bound on the ln p-value the detector's payload
// test gives n observations with fold counts fc ([fold][slot][colour]) and
// support at most support, when a slot is beyond the exact law's size:
// detect.PayloadFoldLnP with each binomial tail bounded below by its
// point probability (a valid lower bound, as the p-value is nondecreasing
// in both tails and in neither statistic). It is only compared with the
// threshold; evaluated windows report the detector's own result.
func (s *Scanner) foldBound(fc []int32, support, n int) float64 {
	radix, slots := s.null.Radix, s.null.Slots
	e := slots * radix
	matches, trials := detect.FoldMatches(fc, radix, slots, radix, e)
	lb, _ := detect.PayloadFoldLnP(support, n, matches, trials, slots, radix, pointTail)
	return lb
}

// pointTail returns ln P(X = k) ≤ ln P(X ≥ k) for X ~ Binomial(n, p), and
// 0 for k ≤ 0: a lower bound on the binomial tail, much cheaper than it.
func pointTail(k, n int, p float64) float64 {
	if k <= 0 {
		return 0
	}
	return stats.LogBinomialPMF(k, n, p)
}

// resize returns b with length n, reusing its array when it is large
// enough (the contents are not cleared).
func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// resetPayload sizes the payload screen's buffers and drops the cached
// tails when the radix changed.
func (s *Scanner) resetPayload(slots, radix int) {
	e := slots * radix
	s.counts = resize(s.counts, e)
	s.foldCounts = resize(s.foldCounts, watermark.PayloadFolds*e)
	s.zero = resize(s.zero, e)
	clear(s.zero)
	s.slotN, s.top, s.alloc = resize(s.slotN, slots), resize(s.top, slots), resize(s.alloc, slots)
	if s.tailRadix != radix {
		s.tails, s.tailRadix = s.tails[:0], radix
	}
}

// bound returns the largest ln Π_j P(M_j ≥ u_j) that a greedy split u of
// the current window's support s = Σ_j t_j reaches, with Σ_j u_j ≥ s: a
// lower bound on the window's exact ln p-value (the event "every M_j ≥ u_j"
// implies S ≥ s, for any such u). It starts from u_j = ⌈n_j/radix⌉, where
// P(M_j ≥ u_j) = 1, and raises one u_j at a time where the bound falls
// least. Any split gives a valid bound; greedy is the best split when the
// slots' log-tails are concave.
func (s *Scanner) bound() float64 {
	radix := s.null.Radix
	u := s.alloc
	need := 0
	for j, n := range s.slotN {
		u[j] = (n + int32(radix) - 1) / int32(radix)
		need += int(s.top[j] - u[j])
	}
	lb := 0.0
	for ; need > 0; need-- {
		arg, gain := -1, math.Inf(-1)
		for j, n := range s.slotN {
			if u[j] < n {
				t := s.tails[n][2*u[j]:]
				if g := t[2] - t[0]; g > gain {
					arg, gain = j, g
				}
			}
		}
		if arg < 0 {
			return math.Inf(-1) // unreachable: Σ t_j ≤ Σ n_j
		}
		u[arg]++
		lb += gain
	}
	return lb
}

// tailsOf returns, for t = 0..n+1, ln P(M ≥ t) at 2t and ln P(B ≥ t) at
// 2t+1, M the largest of radix colour counts among n ≤
// stats.MaxCountLimit uniform tuples and B ~ Binomial(n, 1/radix) (cached
// by n for the radix of resetPayload).
func (s *Scanner) tailsOf(n int) []float64 {
	if n < len(s.tails) && s.tails[n] != nil {
		return s.tails[n]
	}
	return s.fillTails(n)
}

// fillTails computes the tails of tailsOf.
func (s *Scanner) fillTails(n int) []float64 {
	radix := s.tailRadix
	for len(s.tails) <= n {
		s.tails = append(s.tails, nil)
	}
	pmf := stats.MaxCountPMF(n, radix)
	t := make([]float64, 2*(n+2))
	acc := 0.0
	for k := n; k >= 0; k-- {
		acc += pmf[k]
		t[2*k] = math.Log(min(acc, 1))
		t[2*k+1] = stats.LogBinomialTail(k, n, 1/float64(radix))
	}
	t[2*n+2], t[2*n+3] = math.Inf(-1), math.Inf(-1)
	s.tails[n] = t
	return t
}

// evalWindow evaluates the observations [a, b) exactly, as detection of
// those observations alone.
func (s *Scanner) evalWindow(a, b int, ids []uint32) window {
	s.tally.Reset()
	if s.null.Kind == watermark.PayloadNull {
		for _, o := range s.obs[a:b] {
			s.tally.Add(s.null, o)
		}
	} else {
		// N and Sum are all the exact test reads (summed in the order
		// Tally.Add sums, so the p-value is the sliced text's to the
		// last bit); the tournament's weighted mean, which only
		// describes, is filled in for reported windows (weigh).
		sum := 0.0
		for _, o := range s.obs[a:b] {
			sum += o.Score
		}
		s.tally.N, s.tally.Sum = b-a, sum
	}
	tokens := s.pos[b-1] + 1 - s.pos[a]
	r := s.det.EvaluateTally(&s.tally, tokens)
	lnP := r.Log10P * math.Ln10
	return window{start: a, end: b, lnP: lnP, res: r}
}

// weigh evaluates window w with every observation added to the tally, so
// that its result has the tournament's weighted mean too.
func (s *Scanner) weigh(w window) detect.Result {
	s.tally.Reset()
	for _, o := range s.obs[w.start:w.end] {
		s.tally.Add(s.null, o)
	}
	return s.det.EvaluateTally(&s.tally, w.res.Tokens)
}

// merge turns the detected windows into spans by greedy suppression: the
// best (smallest p) window starts a span and absorbs every detected window
// that overlaps it; the best of the rest starts the next, and so on. A
// span's p-value is its best window's, corrected; its extent is the
// best-scoring segment around that window (refine). Spans come in text
// order.
func (s *Scanner) merge(m int, offsets []int) []Span {
	out := []Span{}
	if len(s.found) == 0 {
		return out
	}
	slices.SortFunc(s.found, func(x, y window) int {
		switch {
		case x.lnP < y.lnP:
			return -1
		case x.lnP > y.lnP:
			return 1
		}
		return x.start - y.start
	})
	lnM := math.Log(float64(m))
	alpha := s.det.Alpha()
	n := len(s.obs)
	type extent struct{ a, b int }
	var ext []extent // each span's extent in observations
	for i := range s.found {
		w := s.found[i]
		if w.end < 0 { // absorbed
			continue
		}
		if s.null.Trials > 1 {
			w.res = s.weigh(w)
		}
		half := (w.end - w.start) / 2
		a, b := s.refine(w, max(0, w.start-half), min(n, w.end+half))
		for j := i + 1; j < len(s.found); j++ {
			if o := s.found[j]; o.end >= 0 && (o.start < w.end && w.start < o.end || o.start < b && a < o.end) {
				s.found[j].end = -1
			}
		}
		joined := false
		for k, e := range ext {
			if a <= e.b && e.a <= b {
				// Touches a better span: one passage.
				ext[k] = extent{min(a, e.a), max(b, e.b)}
				out[k].TokenStart, out[k].TokenEnd = s.pos[ext[k].a], s.pos[ext[k].b-1]+1
				joined = true
				break
			}
		}
		if joined {
			continue
		}
		ext = append(ext, extent{a, b})
		corr := math.Min(0, w.lnP+lnM+math.Ln2)
		sp := Span{
			TokenStart: s.pos[a], TokenEnd: s.pos[b-1] + 1,
			PValue: math.Exp(corr), Log10P: stats.Log10(corr) + 0,
			WindowStart: s.pos[w.start], WindowEnd: s.pos[w.end-1] + 1,
			Evidence: w.res,
		}
		if w.res.PayloadLog10P != nil {
			lp := math.Min(0, *w.res.PayloadLog10P*math.Ln10+lnM+math.Ln2)
			pp := math.Exp(lp)
			sp.PayloadPValue, sp.PayloadClaimed = &pp, lp <= math.Log(alpha)
		}
		out = append(out, sp)
	}
	for i := range out {
		out[i].ByteStart, out[i].ByteEnd = -1, -1
		if offsets != nil && len(offsets) > out[i].TokenEnd {
			out[i].ByteStart, out[i].ByteEnd = offsets[out[i].TokenStart], offsets[out[i].TokenEnd]
		}
	}
	slices.SortFunc(out, func(x, y Span) int { return x.TokenStart - y.TokenStart })
	return out
}

// refine estimates the passage's extent inside the merged windows
// [lo, hi): the segment with the largest log-likelihood ratio of "marked
// at the best window's observed rate" against the null (a maximum-sum
// segment, found in one pass). It changes only the reported extent; the
// p-values are those of the tested windows.
func (s *Scanner) refine(w window, lo, hi int) (int, int) {
	L := float64(w.end - w.start)
	var lr func(o watermark.Observation) float64
	switch s.null.Kind {
	case watermark.BinomialNull:
		m := float64(s.null.Trials)
		p := s.null.P
		p1 := w.res.Score / (L * m)
		if !(p1 > p && p1 < 1) {
			return w.start, w.end
		}
		hit, miss := math.Log(p1/p), math.Log((1-p1)/(1-p))
		lr = func(o watermark.Observation) float64 { return o.Score*hit + (m-o.Score)*miss }
	case watermark.GammaNull:
		k := 1.0
		if s.null.Shape > 1 {
			k = float64(s.null.Shape)
		}
		theta := w.res.Score / (L * k)
		if !(theta > 1) {
			return w.start, w.end
		}
		lt, inv := k*math.Log(theta), 1-1/theta
		lr = func(o watermark.Observation) float64 { return o.Score*inv - lt }
	case watermark.PayloadNull:
		p := 1 / float64(s.null.Radix)
		p1 := w.res.Score / L
		if !(p1 > p && p1 < 1) || len(w.res.Symbols) == 0 {
			return w.start, w.end
		}
		hit, miss := math.Log(p1/p), math.Log((1-p1)/(1-p))
		syms := w.res.Symbols
		lr = func(o watermark.Observation) float64 {
			if int(o.Slot) < len(syms) && int(o.Colour) == syms[o.Slot].Value {
				return hit
			}
			return miss
		}
	default:
		return w.start, w.end
	}
	bestA, bestB, bestV := w.start, w.end, math.Inf(-1)
	cur, curA := 0.0, lo
	for i := lo; i < hi; i++ {
		if cur <= 0 {
			cur, curA = 0, i
		}
		cur += lr(s.obs[i])
		if cur > bestV {
			bestV, bestA, bestB = cur, curA, i+1
		}
	}
	return bestA, bestB
}
