// Package detect turns token sequences into evidence: it scores each token
// under a keyed scheme, counts each distinct (seed, token) tuple once, and
// reports an exact p-value. It never reads files; callers hand it tokens or
// text.
package detect

import (
	"fmt"
	"math"

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
}

// Result is the evidence for one text. JSON field names are part of the CLI
// contract.
type Result struct {
	Detected   bool    `json:"detected"`   // PValue <= Alpha
	PValue     float64 `json:"p_value"`    // exact binomial upper tail; 0 only if below 1e-308
	Log10P     float64 `json:"log10_p"`    // log10 of PValue, finite far below 1e-300
	Z          float64 `json:"z"`          // (green - γ·scored)/√(scored·γ(1-γ)), for familiarity
	Tokens     int     `json:"tokens"`     // tokens in the text
	Scored     int     `json:"scored"`     // independent observations counted
	Green      int     `json:"green"`      // green among Scored
	Duplicates int     `json:"duplicates"` // positions dropped as repeats of an earlier tuple
	Gamma      float64 `json:"gamma"`      // null probability of green
	Scheme     string  `json:"scheme"`     // canonical SPEC
	KeyID      string  `json:"key_id"`     // public key ID
	Tokenizer  string  `json:"tokenizer"`  // tokenizer name
	Alpha      float64 `json:"alpha"`      // significance level used
	Dedup      bool    `json:"dedup"`      // whether repeats were dropped
}

// Detector scores token sequences under one keyed KGW scheme. It reuses its
// buffers, so in steady state scoring allocates nothing; it is not safe for
// concurrent use (make one per goroutine).
type Detector struct {
	scheme *watermark.KGW
	opts   Options
	obs    []watermark.Observation
	seen   map[watermark.Tuple]struct{}
	ids    []uint32
}

// New returns a Detector for scheme.
func New(scheme *watermark.KGW, opts Options) (*Detector, error) {
	if opts.Alpha == 0 {
		opts.Alpha = DefaultAlpha
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return nil, fmt.Errorf("detect: alpha must be in (0, 1), got %v", opts.Alpha)
	}
	return &Detector{scheme: scheme, opts: opts, seen: map[watermark.Tuple]struct{}{}}, nil
}

// Tokens scores a token sequence. The first h tokens have no full context
// and are not scored.
func (d *Detector) Tokens(ids []uint32) Result {
	d.obs = d.scheme.AppendObservations(d.obs[:0], ids)
	scored, green := 0, 0
	dedup := !d.opts.NoDedup
	if dedup {
		clear(d.seen)
	}
	for _, o := range d.obs {
		if dedup {
			if _, dup := d.seen[o.Tuple]; dup {
				continue
			}
			d.seen[o.Tuple] = struct{}{}
		}
		scored++
		if o.Green {
			green++
		}
	}
	gamma := d.scheme.GreenProbability()
	lnP := stats.LogBinomialTail(green, scored, gamma)
	return Result{
		Detected:   lnP <= math.Log(d.opts.Alpha),
		PValue:     math.Exp(lnP),
		Log10P:     stats.Log10(lnP) + 0, // +0 turns -0 into 0
		Z:          stats.BinomialZ(green, scored, gamma),
		Tokens:     len(ids),
		Scored:     scored,
		Green:      green,
		Duplicates: len(d.obs) - scored,
		Gamma:      gamma,
		Scheme:     d.scheme.Spec(),
		KeyID:      d.scheme.KeyID(),
		Tokenizer:  d.opts.Tokenizer,
		Alpha:      d.opts.Alpha,
		Dedup:      dedup,
	}
}

// TokensToDetection returns the length of the shortest prefix of ids that
// is detected (p <= Alpha), or -1 if even the whole sequence is not. It
// scores the sequence once, updating the count as each tuple arrives.
func (d *Detector) TokensToDetection(ids []uint32) int {
	d.obs = d.scheme.AppendObservations(d.obs[:0], ids)
	dedup := !d.opts.NoDedup
	if dedup {
		clear(d.seen)
	}
	lnAlpha := math.Log(d.opts.Alpha)
	gamma := d.scheme.GreenProbability()
	h := d.scheme.ContextWidth()
	scored, green := 0, 0
	for i, o := range d.obs {
		if dedup {
			if _, dup := d.seen[o.Tuple]; dup {
				continue
			}
			d.seen[o.Tuple] = struct{}{}
		}
		scored++
		if o.Green {
			green++
			// The p-value can only fall when a green tuple arrives.
			if stats.LogBinomialTail(green, scored, gamma) <= lnAlpha {
				return h + i + 1
			}
		}
	}
	return -1
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
