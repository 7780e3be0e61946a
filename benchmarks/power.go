package benchmarks

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// powerSettings are the scheme settings of the power and quality sections:
// KGW with δ ∈ {1, 2, 4} at h=4 (selfhash) and h=1 (lefthash), Gumbel-max
// and the tournament at h ∈ {1, 4}, the 32-bit payload, and SynthID-Text
// with its reference defaults (both implementations) under engine keys.
var powerSettings = []string{
	"kgw:gamma=0.25,delta=1,h=4,seeding=selfhash",
	watermark.DefaultSpec,
	"kgw:gamma=0.25,delta=4,h=4,seeding=selfhash",
	"kgw:gamma=0.25,delta=1,h=1,seeding=lefthash",
	"kgw:gamma=0.25,delta=2,h=1,seeding=lefthash",
	"kgw:gamma=0.25,delta=4,h=1,seeding=lefthash",
	"gumbel:h=1",
	"gumbel:h=4",
	"tournament:m=30,h=1",
	"tournament:m=30,h=4",
	"kgw:payload_bits=32",
	"synthid",
	"synthid:impl=deepmind",
}

// powerLengths are the prefix lengths (tokens) at which TPR is measured.
var powerLengths = []int{25, 50, 100, 200, 400, 800}

// powerAlphas are the levels at which TPR is measured.
var powerAlphas = []float64{1e-3, 1e-6}

// PowerResult is the power section.
type PowerResult struct {
	Completions int            `json:"completions_per_setting"`
	Length      int            `json:"completion_tokens"`
	Settings    []PowerSetting `json:"settings"`
	Seconds     float64        `json:"seconds"`
}

// PowerSetting is the power of one scheme setting.
type PowerSetting struct {
	Spec string `json:"scheme"`
	// TokensToDetect holds, per completion, the shortest prefix (tokens of
	// the decoded text) with p <= 1e-6, or -1 if the whole completion is
	// not detected.
	TokensToDetect []int `json:"tokens_to_detect"`
	// Median and P90 of TokensToDetect, undetected counted as infinite;
	// -1 when the quantile is undetected (more than the completion length).
	Median int `json:"median"`
	P90    int `json:"p90"`
	// TPR[a][l] is the fraction detected at powerAlphas[a] from the first
	// powerLengths[l] tokens.
	TPR [][]float64 `json:"tpr"`
	// PayloadExact is the fraction of completions whose full-length payload
	// decodes to the embedded customer ID (payload schemes only).
	PayloadExact *float64 `json:"payload_exact,omitempty"`
}

// runPower generates completions with the built-in model for every power
// setting (a fresh key per completion) and measures how many tokens each
// needs to reach p < 1e-6, and TPR against length. It also scores
// unwatermarked completions as a control (their "TPR" is a false-positive
// rate).
func runPower(ctx context.Context, e *env) (*PowerResult, error) {
	start := time.Now()
	res := &PowerResult{Completions: e.cfg.completionsPerSetting(), Length: e.cfg.completionLength()}
	for _, spec := range append(powerSettings, unwatermarked) {
		p, err := e.pool(ctx, spec)
		if err != nil {
			return nil, err
		}
		s, err := powerOf(e, p)
		if err != nil {
			return nil, err
		}
		res.Settings = append(res.Settings, s)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// powerOf measures one pool.
func powerOf(e *env, p *pool) (PowerSetting, error) {
	s := PowerSetting{Spec: p.spec, TPR: make([][]float64, len(powerAlphas))}
	for a := range s.TPR {
		s.TPR[a] = make([]float64, len(powerLengths))
	}
	exact, isPayload := 0, false
	if len(p.comps) > 0 {
		if _, ok := watermark.CarriesPayload(p.comps[0].scheme); ok {
			isPayload = true
			s.PayloadExact = new(float64)
		}
	}
	for i, c := range p.comps {
		scheme := c.scheme
		if scheme == nil { // control: a random default-scheme key
			var err error
			if scheme, err = e.scheme(watermark.DefaultSpec, "power/control", uint64(i)); err != nil {
				return s, err
			}
		}
		det, err := detect.New(scheme, detect.Options{Alpha: 1e-6})
		if err != nil {
			return s, err
		}
		s.TokensToDetect = append(s.TokensToDetect, det.TokensToDetection(c.ids))
		for l, L := range powerLengths {
			r := det.Tokens(c.ids[:min(L, len(c.ids))])
			for a, alpha := range powerAlphas {
				if r.Log10P <= math.Log10(alpha) {
					s.TPR[a][l]++
				}
			}
		}
		if isPayload {
			if r := det.Tokens(c.ids); r.Payload == strconv.FormatUint(c.payload, 16) {
				exact++
			}
		}
	}
	n := float64(len(p.comps))
	for a := range s.TPR {
		for l := range s.TPR[a] {
			s.TPR[a][l] /= n
		}
	}
	if s.PayloadExact != nil {
		*s.PayloadExact = float64(exact) / n
	}
	s.Median, s.P90 = censoredQuantile(s.TokensToDetect, 0.5), censoredQuantile(s.TokensToDetect, 0.9)
	return s, nil
}

// censoredQuantile is the q-quantile (nearest rank) of xs where -1 means
// "more than observed": -1 is returned if the quantile falls there.
func censoredQuantile(xs []int, q float64) int {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = float64(x)
		if x < 0 {
			v[i] = math.Inf(1)
		}
	}
	r := quantile(v, q)
	if math.IsInf(r, 1) || math.IsNaN(r) {
		return -1
	}
	return int(r)
}
