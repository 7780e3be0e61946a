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
	lnP   []float64
}

// NewMulti returns a Multi detector over schemes (one per key).
func NewMulti(schemes []watermark.Scheme, opts Options) (*Multi, error) {
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
	Payload       string  `json:"payload,omitempty"`
}

// MultiResult is the evidence for one text under several keys. Its embedded
// Result is the best key's (smallest p-value) with PValue, Log10P and
// Detected replaced by their Holm-adjusted values.
type MultiResult struct {
	Result
	RawLog10P   float64     `json:"raw_log10_p"` // the best key's p before correction
	Correction  string      `json:"correction"`  // "holm"
	KeysTested  int         `json:"keys_tested"`
	MatchedKeys []string    `json:"matched_keys"` // keys detected after correction
	PerKey      []KeyResult `json:"per_key"`
}

// Tokens tests a token sequence under every key.
func (m *Multi) Tokens(ids []uint32) MultiResult {
	results := make([]Result, len(m.dets))
	m.lnP = m.lnP[:0]
	for i, d := range m.dets {
		results[i] = d.Tokens(ids)
		m.lnP = append(m.lnP, results[i].Log10P*math.Ln10)
	}
	adj := HolmAdjust(m.lnP)
	out := MultiResult{Correction: "holm", KeysTested: len(m.dets), MatchedKeys: []string{}}
	best := 0
	lnAlpha := math.Log(m.alpha)
	for i, r := range results {
		kr := KeyResult{KeyID: r.KeyID, Scheme: r.Scheme, PValue: r.PValue, Log10P: r.Log10P,
			AdjustedLog10: stats.Log10(adj[i]) + 0, Detected: adj[i] <= lnAlpha, Payload: r.Payload}
		out.PerKey = append(out.PerKey, kr)
		if kr.Detected {
			out.MatchedKeys = append(out.MatchedKeys, r.KeyID)
		}
		if m.lnP[i] < m.lnP[best] {
			best = i
		}
	}
	out.Result = results[best]
	out.RawLog10P = results[best].Log10P
	out.Log10P = stats.Log10(adj[best]) + 0
	out.PValue = math.Exp(adj[best])
	out.Detected = adj[best] <= lnAlpha
	return out
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
// the natural-log p-values lnP: sorted ascending, the i-th smallest (from 0)
// becomes max over j <= i of min(0, ln(m-j) + lnP_(j)).
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
