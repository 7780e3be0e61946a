// Package detect turns token sequences into evidence: it scores each token
// under a keyed scheme, counts each distinct (seed, token) tuple once, and
// reports an exact p-value. It never reads files; callers hand it tokens or
// text.
package detect

import (
	"fmt"
	"math"
	"slices"

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
	TestPayloadFold     = "payload-max-fold" // 2·min(Bonferroni, fold test), for slots too large for payload-max-exact
)

// Result is the evidence for one text. JSON field names are part of the CLI
// contract. The fields every test fills come first; each kind of null model
// adds its own part (GreenResult, MeanScores, PayloadResult), whose JSON
// fields are inlined. Every field is always present in JSON (zero, false or
// null where a test does not fill it), so that jq filters never meet a
// missing key.
type Result struct {
	Detected   bool    `json:"detected"`   // PValue <= Alpha
	PValue     float64 `json:"p_value"`    // exact; 0 only if below 1e-308
	Log10P     float64 `json:"log10_p"`    // log10 of PValue, finite far below 1e-300
	Z          float64 `json:"z"`          // standardized score, for familiarity only
	Tokens     int     `json:"tokens"`     // tokens in the text
	Scored     int     `json:"scored"`     // independent observations counted
	Score      float64 `json:"score"`      // the test statistic: green count, Σ -ln(1-r), Σ g, best message's support
	Duplicates int     `json:"duplicates"` // positions dropped as repeats of an earlier tuple
	Excluded   int     `json:"excluded"`   // positions dropped as excluded n-grams
	Test       string  `json:"test"`       // which exact test gave PValue
	Scheme     string  `json:"scheme"`     // canonical SPEC
	KeyID      string  `json:"key_id"`     // public key ID
	Tokenizer  string  `json:"tokenizer"`  // tokenizer name
	Alpha      float64 `json:"alpha"`      // significance level used
	Dedup      bool    `json:"dedup"`      // whether repeats were dropped
	// TooShort: even the strongest possible evidence in this many scored
	// tokens could not reach Alpha, so "not detected" says nothing.
	TooShort bool `json:"too_short"`

	GreenResult
	MeanScores
	PayloadResult
}

// GreenResult is the part of a Result that a one-trial binomial null (KGW
// without a payload) fills; other schemes leave it zero.
type GreenResult struct {
	Green int     `json:"green"` // green tokens among Scored
	Gamma float64 `json:"gamma"` // null probability of green
}

// MeanScores is the part of a Result that the Gamma null (mean of
// -ln(1-r)) and the tournament's m-trial binomial null (mean g-value, and
// SynthID's weighted mean: layer l of m weighted m-l, earlier layers count
// more) fill.
type MeanScores struct {
	MeanScore         float64 `json:"mean_score"`
	WeightedMeanScore float64 `json:"weighted_mean_score"`
}

// PayloadResult is the part of a Result that a payload null fills: the
// decoded payload (hex), whether it is claimed (PayloadPValue <= Alpha), its
// p-value and per-symbol evidence. The payload p-value bounds the chance,
// without the key, that any of the 2^bits messages is supported as strongly
// as the decoded one: 2^bits · P(Binomial(n, 1/radix) >= support), exact
// binomial with a Bonferroni correction for searching the message space,
// and never below the zero-bit PValue (it is the larger of the two), so a
// claimed payload is always a detected watermark. The zero-bit PValue tests
// the same support with its exact null distribution (the sum over slots of
// the largest colour count) while every slot holds at most 200 tuples;
// beyond, it is twice the smaller of the Bonferroni bound and the fold
// test's exact binomial p-value (Test "payload-max-fold"; docs/statistics.md).
type PayloadResult struct {
	Payload        string   `json:"payload"`
	PayloadClaimed bool     `json:"payload_claimed"`
	PayloadPValue  *float64 `json:"payload_p_value"`
	PayloadLog10P  *float64 `json:"payload_log10_p"`
	Symbols        []Symbol `json:"symbols"`
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
	scheme watermark.Observer
	opts   Options
	eval   evaluator
	obs    []watermark.Observation
	seen   seenSet
	ids    []uint32
	tally  Tally
	// positions[i] is the index, among positions with a full context, of
	// the i-th kept observation (TokensToDetection).
	positions []int
	excluded  int
}

// New returns a Detector for scheme (any keyed scheme's observation side).
func New(scheme watermark.Observer, opts Options) (*Detector, error) {
	if opts.Alpha == 0 {
		opts.Alpha = DefaultAlpha
	}
	if err := checkExclude(opts.Exclude, scheme); err != nil {
		return nil, err
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return nil, fmt.Errorf("detect: alpha must be in (0, 1), got %v", opts.Alpha)
	}
	return &Detector{scheme: scheme, opts: opts, eval: newEvaluator(scheme.Config().Null(), opts.Alpha)}, nil
}

// checkExclude reports an exclusion set whose n-grams do not fit scheme.
func checkExclude(exclude *NgramSet, scheme watermark.Observer) error {
	if exclude != nil && exclude.N() != scheme.ContextWidth()+1 {
		return fmt.Errorf("detect: excluded n-grams have %d tokens, scheme %s needs %d", exclude.N(), scheme.Spec(), scheme.ContextWidth()+1)
	}
	return nil
}

// NewFrom returns a new Detector with d's scheme and options (its own
// buffers), excluding the n-grams of exclude (which may be nil).
func NewFrom(d *Detector, exclude *NgramSet) *Detector {
	opts := d.opts
	opts.Exclude = exclude
	return &Detector{scheme: d.scheme, opts: opts, eval: newEvaluator(d.eval.null, opts.Alpha)}
}

// SetScheme makes d score under another scheme (typically the same scheme
// under a fresh key), keeping its options and buffers: benchmarks that test
// one text under millions of random keys then allocate nothing per key.
func (d *Detector) SetScheme(scheme watermark.Observer) error {
	if err := checkExclude(d.opts.Exclude, scheme); err != nil {
		return err
	}
	if null := scheme.Config().Null(); null != d.eval.null {
		d.eval = newEvaluator(null, d.opts.Alpha)
	}
	d.scheme = scheme
	return nil
}

// Scheme returns the detector's scheme.
func (d *Detector) Scheme() watermark.Observer { return d.scheme }

// Observations returns the observations the last Tokens call counted
// (deduplicated, exclusions removed). The slice is reused by the next call.
func (d *Detector) Observations() []watermark.Observation { return d.obs }

// observe fills d.obs with the observations of ids that are counted:
// excluded n-grams are dropped, then repeats of an earlier tuple (unless
// NoDedup). It returns how many positions were dropped as repeats and sets
// d.excluded. With positions, d.positions[i] receives the index (among
// positions with a full context) of the i-th kept observation.
func (d *Detector) observe(ids []uint32, positions bool) int {
	d.obs = d.scheme.AppendObservations(d.obs[:0], ids)
	d.positions = d.positions[:0]
	dedup := !d.opts.NoDedup
	if dedup {
		d.seen.reset(len(d.obs))
	}
	var n int
	if d.opts.Exclude != nil {
		n = d.opts.Exclude.N()
	}
	kept := d.obs[:0]
	excluded, duplicates := 0, 0
	for i, o := range d.obs {
		if dedup && i%seenBatch == 0 && len(d.obs) > minSeenSlots/2 {
			d.seen.warm(d.obs[i:min(i+seenBatch, len(d.obs))])
		}
		switch {
		case n > 0 && d.opts.Exclude.Contains(ids[i:i+n]):
			excluded++
			continue
		case dedup && !d.seen.add(o.Tuple, kept):
			duplicates++
			continue
		}
		kept = append(kept, o)
		if positions {
			d.positions = append(d.positions, i)
		}
	}
	d.obs, d.excluded = kept, excluded
	return duplicates
}

// Tokens scores a token sequence. The first h tokens have no full context
// and are not scored.
func (d *Detector) Tokens(ids []uint32) Result { return d.tokens(ids, false) }

// tokens is Tokens; with positions, d.positions records where each kept
// observation is (observe).
func (d *Detector) tokens(ids []uint32, positions bool) Result {
	r := Result{
		Tokens:     len(ids),
		Duplicates: d.observe(ids, positions),
		Scheme:     d.scheme.Spec(),
		KeyID:      d.scheme.KeyID(),
		Tokenizer:  d.opts.Tokenizer,
		Alpha:      d.opts.Alpha,
		Dedup:      !d.opts.NoDedup,
	}
	r.Excluded = d.excluded
	d.tally.Reset()
	d.tally.AddAll(d.eval.null, d.obs)
	d.eval.evaluate(&d.tally, &r)
	return r
}

// TokensToDetection returns the length of the shortest prefix of ids that
// is detected (p <= Alpha), or -1 if even the whole sequence is not. For
// the binomial and gamma tests it scores the sequence once, updating the
// statistic as each tuple arrives; for payload schemes it tests prefixes
// by bisection on the monotone part and then scans.
func (d *Detector) TokensToDetection(ids []uint32) int {
	null := d.eval.null
	if null.Kind == watermark.PayloadNull {
		return d.prefixScan(ids)
	}
	d.observe(ids, true)
	lnAlpha := math.Log(d.opts.Alpha)
	h := d.scheme.ContextWidth()
	sum := 0.0
	for i, o := range d.obs {
		sum += o.Score
		k := i + 1
		var lnP float64
		if null.Kind == watermark.GammaNull {
			lnP = stats.LogGammaUpperTail(null.GammaShape(k), sum)
		} else {
			lnP = stats.LogBinomialTail(int(sum), k*null.Trials, null.P)
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
