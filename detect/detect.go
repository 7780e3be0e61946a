// Package detect turns token sequences into evidence: it scores each token
// under a keyed scheme, counts each distinct (seed, token) tuple once, and
// reports an exact p-value. It never reads files; callers hand it tokens or
// text.
package detect

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// DefaultAlpha is the significance level below which a text is called
// watermarked: a false accusation rate of one in a million per text.
const DefaultAlpha = 1e-6

// Options configure a Detector.
type Options struct {
	// Alpha is the significance level; 0 means DefaultAlpha.
	Alpha float64
	// NoDedup scores every position, repeats included. Only for experiments:
	// repeated (seed, token) tuples are not independent, so on repetitive
	// text (code, templates, lists) the p-values are then invalid (far too
	// small), and false accusations follow.
	NoDedup bool
	// Tokenizer is the name recorded in results; Text fills it in itself.
	Tokenizer string
	// Exclude drops positions whose n-gram (the h context tokens and the
	// token) is in the set; its n must be the scheme's h+1.
	Exclude *NgramSet
}

// Test names, as reported in Result.Test.
const (
	TestBinomial        = "binomial"          // exact binomial upper tail
	TestGamma           = "gamma"             // exact Gamma(n, 1) upper tail
	TestPayloadExact    = "payload-max-exact" // exact tail of the best message's support
	TestPayloadBonferro = "payload-max-bonferroni"
)

// Result is the evidence for one text. JSON field names are part of the CLI
// contract.
type Result struct {
	Detected   bool    `json:"detected"`           // PValue <= Alpha
	PValue     float64 `json:"p_value"`            // exact; 0 only if below 1e-308
	Log10P     float64 `json:"log10_p"`            // log10 of PValue, finite far below 1e-300
	Z          float64 `json:"z"`                  // standardized score, for familiarity only
	Tokens     int     `json:"tokens"`             // tokens in the text
	Scored     int     `json:"scored"`             // independent observations counted
	Green      int     `json:"green"`              // KGW: green among Scored (0 for other schemes)
	Score      float64 `json:"score"`              // the test statistic: green count, Σ -ln(1-r), Σ g, best message's support
	Duplicates int     `json:"duplicates"`         // positions dropped as repeats of an earlier tuple
	Excluded   int     `json:"excluded,omitempty"` // positions dropped by --exclude-ngrams
	Gamma      float64 `json:"gamma"`              // KGW: null probability of green
	Test       string  `json:"test"`               // which exact test gave PValue
	Scheme     string  `json:"scheme"`             // canonical SPEC
	KeyID      string  `json:"key_id"`             // public key ID
	Tokenizer  string  `json:"tokenizer"`          // tokenizer name
	Alpha      float64 `json:"alpha"`              // significance level used
	Dedup      bool    `json:"dedup"`              // whether repeats were dropped

	// Tournament: the mean g-value, and SynthID's weighted mean (layer l of
	// m weighted m-l, earlier layers count more).
	MeanScore         float64 `json:"mean_score,omitempty"`
	WeightedMeanScore float64 `json:"weighted_mean_score,omitempty"`

	// KGW with a payload: the decoded payload (hex), whether it is claimed
	// (PayloadPValue <= Alpha), its p-value and per-symbol evidence. The
	// payload p-value bounds the chance, without the key, that any of the
	// 2^bits messages is supported as strongly as the decoded one:
	// 2^bits · P(Binomial(n, 1/radix) >= support), exact binomial with a
	// Bonferroni correction for searching the message space. The zero-bit
	// PValue tests the same support with its exact null distribution (the
	// sum over slots of the largest colour count), so it is never larger.
	Payload        string   `json:"payload,omitempty"`
	PayloadClaimed bool     `json:"payload_claimed,omitempty"`
	PayloadPValue  *float64 `json:"payload_p_value,omitempty"`
	PayloadLog10P  *float64 `json:"payload_log10_p,omitempty"`
	Symbols        []Symbol `json:"symbols,omitempty"`
}

// Symbol is the evidence for one payload symbol.
type Symbol struct {
	Value  int     `json:"value"`   // decoded symbol (the most frequent colour)
	Count  int     `json:"count"`   // observations in this slot
	Top    int     `json:"top"`     // of which had the decoded colour
	Second int     `json:"second"`  // the runner-up colour's count
	Log10P float64 `json:"log10_p"` // log10 P(max colour count >= Top) without the key
}

// Detector scores token sequences under one keyed scheme. It reuses its
// buffers, so in steady state scoring allocates nothing (payload schemes
// allocate when a slot size is seen for the first time); it is not safe for
// concurrent use (make one per goroutine).
type Detector struct {
	scheme watermark.Scheme
	null   watermark.Null
	opts   Options
	obs    []watermark.Observation
	seen   seenSet
	ids    []uint32
	maxPMF map[int][]float64 // payload: MaxCountPMF(n, radix) by n
	pmfs   [][]float64
	// positions[i] is the index, among positions with a full context, of
	// the i-th kept observation (TokensToDetection).
	positions []int
	excluded  int
}

// New returns a Detector for scheme.
func New(scheme watermark.Scheme, opts Options) (*Detector, error) {
	if opts.Alpha == 0 {
		opts.Alpha = DefaultAlpha
	}
	if opts.Exclude != nil && opts.Exclude.N() != scheme.ContextWidth()+1 {
		return nil, fmt.Errorf("detect: excluded n-grams have %d tokens, scheme %s needs %d", opts.Exclude.N(), scheme.Spec(), scheme.ContextWidth()+1)
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return nil, fmt.Errorf("detect: alpha must be in (0, 1), got %v", opts.Alpha)
	}
	return &Detector{scheme: scheme, null: scheme.Null(), opts: opts,
		maxPMF: map[int][]float64{}}, nil
}

// NewFrom returns a new Detector with d's scheme and options (its own
// buffers), excluding the n-grams of exclude (which may be nil).
func NewFrom(d *Detector, exclude *NgramSet) *Detector {
	opts := d.opts
	opts.Exclude = exclude
	return &Detector{scheme: d.scheme, null: d.null, opts: opts,
		maxPMF: map[int][]float64{}}
}

// SetScheme makes d score under another scheme (typically the same scheme
// under a fresh key), keeping its options and buffers: benchmarks that test
// one text under millions of random keys then allocate nothing per key.
func (d *Detector) SetScheme(scheme watermark.Scheme) error {
	if d.opts.Exclude != nil && d.opts.Exclude.N() != scheme.ContextWidth()+1 {
		return fmt.Errorf("detect: excluded n-grams have %d tokens, scheme %s needs %d", d.opts.Exclude.N(), scheme.Spec(), scheme.ContextWidth()+1)
	}
	if null := scheme.Null(); null != d.null {
		d.null = null
		clear(d.maxPMF)
	}
	d.scheme = scheme
	return nil
}

// Scheme returns the detector's scheme.
func (d *Detector) Scheme() watermark.Scheme { return d.scheme }

// Observations returns the observations the last Tokens call counted
// (deduplicated, exclusions removed). The slice is reused by the next call.
func (d *Detector) Observations() []watermark.Observation { return d.obs }

// exclude drops the observations whose n-gram is excluded and returns how
// many it dropped.
func (d *Detector) exclude(ids []uint32) int {
	if d.opts.Exclude == nil {
		return 0
	}
	n := d.opts.Exclude.N()
	kept := d.obs[:0]
	for i, o := range d.obs {
		if !d.opts.Exclude.Contains(ids[i : i+n]) {
			kept = append(kept, o)
		}
	}
	dropped := len(d.obs) - len(kept)
	d.obs = kept
	return dropped
}

// observe fills d.obs with the deduplicated observations of ids and returns
// how many positions were dropped as repeats.
func (d *Detector) observe(ids []uint32) int {
	d.obs = d.scheme.AppendObservations(d.obs[:0], ids)
	d.excluded = d.exclude(ids)
	if d.opts.NoDedup {
		return 0
	}
	d.seen.reset(len(d.obs))
	kept := d.obs[:0]
	for _, o := range d.obs {
		if d.seen.add(o.Tuple) {
			kept = append(kept, o)
		}
	}
	dropped := len(d.obs) - len(kept)
	d.obs = kept
	return dropped
}

// Tokens scores a token sequence. The first h tokens have no full context
// and are not scored.
func (d *Detector) Tokens(ids []uint32) Result {
	r := Result{
		Tokens:     len(ids),
		Duplicates: d.observe(ids),
		Scheme:     d.scheme.Spec(),
		KeyID:      d.scheme.KeyID(),
		Tokenizer:  d.opts.Tokenizer,
		Alpha:      d.opts.Alpha,
		Dedup:      !d.opts.NoDedup,
	}
	r.Excluded = d.excluded
	var t Tally
	for _, o := range d.obs {
		t.Add(d.null, o)
	}
	d.evaluate(&t, &r)
	return r
}

// Tally accumulates the deduplicated observations of one scheme: all a
// p-value needs, so that tallies of parts (documents, files) add up to the
// tally of the whole.
type Tally struct {
	N        int         `json:"n"`
	Sum      float64     `json:"sum"`              // Σ score
	Weighted float64     `json:"weighted"`         // tournament: Σ over layers l of (m-l)·g_l
	Counts   [][]int     `json:"counts,omitempty"` // payload: [slot][colour]
	slots    [64][16]int // payload counts while accumulating
	hasSlots bool
}

// Add counts one observation.
func (t *Tally) Add(null watermark.Null, o watermark.Observation) {
	t.N++
	switch null.Kind {
	case watermark.PayloadNull:
		t.slots[o.Slot][o.Colour]++
		t.hasSlots = true
	default:
		t.Sum += o.Score
		if null.Trials > 1 {
			m := null.Trials
			for l := 0; l < m; l++ {
				t.Weighted += float64(m-l) * float64(o.Bits>>l&1)
			}
		}
	}
}

// AddTally adds another tally of the same scheme.
func (t *Tally) AddTally(o *Tally) {
	t.N += o.N
	t.Sum += o.Sum
	t.Weighted += o.Weighted
	o.export()
	for j, row := range o.Counts {
		for c, v := range row {
			t.slots[j][c] += v
			t.hasSlots = true
		}
	}
}

// export fills Counts from the accumulation arrays (for JSON).
func (t *Tally) export() {
	if !t.hasSlots || t.Counts != nil {
		return
	}
	t.Counts = make([][]int, 64)
	for j := range t.slots {
		t.Counts[j] = append([]int(nil), t.slots[j][:]...)
	}
}

// evaluate fills r's statistics from a tally.
func (d *Detector) evaluate(t *Tally, r *Result) {
	n := t.N
	r.Scored = n
	var lnP float64
	switch d.null.Kind {
	case watermark.BinomialNull:
		trials := n * d.null.Trials
		lnP = stats.LogBinomialTail(int(t.Sum), trials, d.null.P)
		r.Score, r.Z, r.Test = t.Sum, stats.BinomialZ(int(t.Sum), trials, d.null.P), TestBinomial
		if d.null.Trials == 1 {
			r.Green, r.Gamma = int(t.Sum), d.null.P
		} else if n > 0 {
			m := float64(d.null.Trials)
			r.MeanScore = t.Sum / float64(trials)
			r.WeightedMeanScore = t.Weighted / (float64(n) * m * (m + 1) / 2)
		}
	case watermark.GammaNull:
		lnP = stats.LogGammaUpperTail(float64(n), t.Sum)
		if n == 0 {
			lnP = 0
		} else {
			r.Z, r.MeanScore = (t.Sum-float64(n))/math.Sqrt(float64(n)), t.Sum/float64(n)
		}
		r.Score, r.Test = t.Sum, TestGamma
	case watermark.PayloadNull:
		lnP = d.payload(t, r)
	}
	r.Detected = lnP <= math.Log(d.opts.Alpha)
	r.PValue = math.Exp(lnP)
	r.Log10P = stats.Log10(lnP) + 0 // +0 turns -0 into 0
}

// payload decodes the payload, fills r's payload fields and returns the
// zero-bit ln p-value: the exact null tail of the best message's support
// S = Σ_slots max colour count (Bonferroni over all messages when a slot is
// too large for the exact distribution).
func (d *Detector) payload(t *Tally, r *Result) float64 {
	radix, slots := d.null.Radix, d.null.Slots
	bitsPer := 0
	for 1<<bitsPer < radix {
		bitsPer++
	}
	var value uint64
	support, exact := 0, true
	d.pmfs = d.pmfs[:0]
	r.Symbols = make([]Symbol, slots)
	for j := 0; j < slots; j++ {
		top, second, best, nj := -1, -1, 0, 0
		for c := 0; c < radix; c++ {
			v := t.slots[j][c]
			nj += v
			switch {
			case v > top:
				second, top, best = top, v, c
			case v > second:
				second = v
			}
		}
		value |= uint64(best) << (uint(j) * uint(bitsPer))
		support += top
		pmf := d.maxCountPMF(nj, radix)
		var lnSym float64
		if pmf != nil {
			d.pmfs = append(d.pmfs, pmf)
			lnSym = stats.LogTail(pmf, top)
		} else {
			exact = false
			lnSym = math.Min(0, math.Log(float64(radix))+stats.LogBinomialTail(top, nj, 1/float64(radix)))
		}
		if nj == 0 {
			lnSym = 0
		}
		r.Symbols[j] = Symbol{Value: best, Count: nj, Top: top, Second: max(second, 0), Log10P: stats.Log10(lnSym) + 0}
	}
	n := t.N
	bonferroni := math.Min(0, float64(slots)*float64(bitsPer)*math.Ln2+stats.LogBinomialTail(support, n, 1/float64(radix)))
	lnP := bonferroni
	r.Test = TestPayloadBonferro
	if exact {
		if e := stats.LogTailOfSum(d.pmfs, support); !math.IsInf(e, -1) {
			lnP, r.Test = math.Min(e, bonferroni), TestPayloadExact
		}
	}
	r.Score = float64(support)
	r.Z = stats.BinomialZ(support, n, 1/float64(radix))
	r.Payload = strconv.FormatUint(value, 16)
	pp, pl := math.Exp(bonferroni), stats.Log10(bonferroni)+0
	r.PayloadPValue, r.PayloadLog10P = &pp, &pl
	r.PayloadClaimed = bonferroni <= math.Log(d.opts.Alpha)
	return lnP
}

func (d *Detector) maxCountPMF(n, radix int) []float64 {
	if p, ok := d.maxPMF[n]; ok {
		return p
	}
	p := stats.MaxCountPMF(n, radix)
	d.maxPMF[n] = p
	return p
}

// TokensToDetection returns the length of the shortest prefix of ids that
// is detected (p <= Alpha), or -1 if even the whole sequence is not. For
// the binomial and gamma tests it scores the sequence once, updating the
// statistic as each tuple arrives; for payload schemes it tests prefixes
// by bisection on the monotone part and then scans.
func (d *Detector) TokensToDetection(ids []uint32) int {
	if d.null.Kind == watermark.PayloadNull {
		return d.prefixScan(ids)
	}
	d.observeWithPositions(ids)
	lnAlpha := math.Log(d.opts.Alpha)
	h := d.scheme.ContextWidth()
	sum := 0.0
	for i, o := range d.obs {
		sum += o.Score
		k := i + 1
		var lnP float64
		if d.null.Kind == watermark.GammaNull {
			lnP = stats.LogGammaUpperTail(float64(k), sum)
		} else {
			lnP = stats.LogBinomialTail(int(sum), k*d.null.Trials, d.null.P)
		}
		if lnP <= lnAlpha {
			return h + d.positions[i] + 1
		}
	}
	return -1
}

// prefixScan finds the shortest detected prefix by testing every prefix
// length in steps of 8 tokens, then one by one.
func (d *Detector) prefixScan(ids []uint32) int {
	step := 8
	for n := step; ; n += step {
		if n > len(ids) {
			n = len(ids)
		}
		if d.Tokens(ids[:n]).Detected {
			for m := max(n-step+1, 1); m <= n; m++ {
				if d.Tokens(ids[:m]).Detected {
					return m
				}
			}
		}
		if n == len(ids) {
			return -1
		}
	}
}

// observeWithPositions is observe that also records, for each kept
// observation, its index among all positions with a full context.
func (d *Detector) observeWithPositions(ids []uint32) {
	d.obs = d.scheme.AppendObservations(d.obs[:0], ids)
	d.positions = d.positions[:0]
	if !d.opts.NoDedup {
		d.seen.reset(len(d.obs))
	}
	kept := d.obs[:0]
	for i, o := range d.obs {
		if !d.opts.NoDedup && !d.seen.add(o.Tuple) {
			continue
		}
		kept = append(kept, o)
		d.positions = append(d.positions, i)
	}
	d.obs = kept
}

// Text tokenizes text with tok and scores it.
func (d *Detector) Text(tok tokenize.Tokenizer, text string) (Result, error) {
	var err error
	d.ids, err = tok.AppendEncode(d.ids[:0], text)
	if err != nil {
		return Result{}, err
	}
	r := d.Tokens(d.ids)
	r.Tokenizer = tok.Name()
	return r, nil
}

// sortedIndex returns the indices of xs in increasing order of xs.
func sortedIndex(xs []float64) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	return idx
}
