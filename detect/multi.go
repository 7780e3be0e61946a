package detect

import (
	"fmt"
	"math"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Multi tests each text under several keys (schemes) at once and corrects
// for it with Holm's step-down procedure, which controls the family-wise
// error rate at Alpha across keys: the chance that any key falsely matches
// a text stays below Alpha. The per-token cost grows linearly with the
// number of keys; in steady state it allocates nothing but the result.
type Multi struct {
	dets  []*Detector
	alpha float64
	ids   []uint32
}

// NewMulti returns a Multi detector over schemes (one per key).
func NewMulti[S watermark.Observer](schemes []S, opts Options) (*Multi, error) {
	if len(schemes) == 0 {
		return nil, fmt.Errorf("detect: no keys")
	}
	m := &Multi{}
	for _, s := range schemes {
		d, err := New(s, opts)
		if err != nil {
			return nil, err
		}
		m.dets = append(m.dets, d)
	}
	m.alpha = m.dets[0].opts.Alpha
	return m, nil
}

// KeyResult is one key's evidence in a multi-key result.
type KeyResult struct {
	KeyID         string  `json:"key_id"`
	Scheme        string  `json:"scheme"`
	PValue        float64 `json:"p_value"`          // the key's own exact p-value
	Log10P        float64 `json:"log10_p"`          //
	AdjustedLog10 float64 `json:"adjusted_log10_p"` // after Holm's correction
	Detected      bool    `json:"detected"`         // adjusted p <= alpha
	Payload       string  `json:"payload"`
}

// MultiResult is the evidence for one text (or one corpus) under several
// keys. Its embedded Result is the best key's (see Combine) with PValue,
// Log10P and Detected replaced by their Holm-adjusted values.
type MultiResult struct {
	Result
	Best        int         `json:"-"`           // index of the best key in the combined results
	RawLog10P   float64     `json:"raw_log10_p"` // the best key's p before correction
	Correction  string      `json:"correction"`  // "holm"
	KeysTested  int         `json:"keys_tested"`
	MatchedKeys []string    `json:"matched_keys"` // keys detected after correction
	PerKey      []KeyResult `json:"per_key"`
}

// CorrectionHolm names Holm's step-down correction over keys.
const CorrectionHolm = "holm"

// Combine is the one evidence combiner: it corrects the results of one
// text (or of one corpus's pooled tests) under several keys with Holm's
// step-down procedure, which controls the family-wise error rate at alpha
// across keys, and names the best key. Tie rule: the best key is the one
// with the smallest raw p-value, and among equal raw p-values the one
// listed first. Holm's adjusted p-values are non-decreasing in the raw
// ones, so that key also has the smallest adjusted p-value; ranking by
// adjusted p alone could not separate keys whose adjusted values tie (for
// instance all capped at 1). detect, scan and merge all use Combine, so
// they name the same key and payload for the same evidence. alpha 0 means
// DefaultAlpha; results must not be empty.
func Combine(results []Result, alpha float64) MultiResult {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	lnP := make([]float64, len(results))
	for i, r := range results {
		lnP[i] = r.Log10P * math.Ln10
	}
	adj := HolmAdjust(lnP)
	out := MultiResult{Correction: CorrectionHolm, KeysTested: len(results), MatchedKeys: []string{},
		PerKey: make([]KeyResult, 0, len(results))}
	best := 0
	lnAlpha := math.Log(alpha)
	for i, r := range results {
		kr := KeyResult{KeyID: r.KeyID, Scheme: r.Scheme, PValue: r.PValue, Log10P: r.Log10P,
			AdjustedLog10: stats.Log10(adj[i]) + 0, Detected: adj[i] <= lnAlpha, Payload: r.Payload}
		out.PerKey = append(out.PerKey, kr)
		if kr.Detected {
			out.MatchedKeys = append(out.MatchedKeys, r.KeyID)
		}
		if r.Log10P < results[best].Log10P {
			best = i
		}
	}
	out.Best = best
	out.Result = results[best]
	out.RawLog10P = results[best].Log10P
	out.Log10P = out.PerKey[best].AdjustedLog10
	out.PValue = math.Exp(adj[best])
	out.Detected = out.PerKey[best].Detected
	return out
}

// Tokens tests a token sequence under every key.
func (m *Multi) Tokens(ids []uint32) MultiResult {
	results := make([]Result, len(m.dets))
	for i, d := range m.dets {
		results[i] = d.Tokens(ids)
	}
	return Combine(results, m.alpha)
}

// Text tokenizes text with tok and tests it under every key.
func (m *Multi) Text(tok tokenize.Tokenizer, text string) (MultiResult, error) {
	var err error
	m.ids, err = tok.AppendEncode(m.ids[:0], text)
	if err != nil {
		return MultiResult{}, err
	}
	r := m.Tokens(m.ids)
	r.Tokenizer = tok.Name()
	return r, nil
}

// HolmAdjust returns Holm's step-down adjusted p-values, in log space, of
// the natural-log p-values lnP: sorted ascending (ties in input order), the
// i-th smallest (from 0) becomes max over j <= i of min(0, ln(m-j) + lnP_(j)).
func HolmAdjust(lnP []float64) []float64 {
	m := len(lnP)
	adj := make([]float64, m)
	running := math.Inf(-1)
	for rank, i := range sortedIndex(lnP) {
		v := math.Min(0, math.Log(float64(m-rank))+lnP[i])
		running = math.Max(running, v)
		adj[i] = running
	}
	return adj
}
