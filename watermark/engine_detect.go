package watermark

import (
	"encoding/json"
	"math"
)

// EngineDetection is a serving engine's own detector result on a token
// sequence, computed the engine's way and reported next to tracemark's
// evidence, which differs (docs/engines.md, docs/engines-synthid.md).
//
// For vLLM the first tokens are scored against contexts padded with -1, a
// context seen before is skipped (context-level dedup), and the p-value is
// vLLM's own formula: Score and PValue are set. For SynthID-Text the
// result is its mean detectors' (detector_mean.py) under its
// repeated-context mask: MeanScore and WeightedMeanScore are set, and
// NoPValue, since those detectors give scores, not a p-value.
type EngineDetection struct {
	// Engine is the engine whose rule is computed: "vllm", or for
	// SynthID-Text "transformers" (impl=transformers) or "synthid-text"
	// (impl=deepmind, google-deepmind/synthid-text).
	Engine string `json:"engine"`
	// Algorithm is the engine's name of the watermark: vLLM's "gumbel",
	// "dual_key_gumbel" or "sbw", or "synthid".
	Algorithm string `json:"algorithm"`
	// Score is vLLM's detector score: the sum of the per-position scores
	// (the green count for SBW).
	Score float64 `json:"score"`
	// PValue is the engine's own p-value, unless NoPValue.
	PValue float64 `json:"p_value"`
	// NoPValue is set when the engine's detector has no p-value (SynthID);
	// PValue is then 0 and the JSON form has no p_value member.
	NoPValue bool `json:"-"`
	// NumScoredTokens is the number of positions the engine's detector
	// scores.
	NumScoredTokens int `json:"num_scored_tokens"`
	// MeanScore and WeightedMeanScore are SynthID-Text's mean_score and
	// weighted_mean_score (layer weights linspace(10, 1, depth) scaled to
	// sum to depth): NaN, null in JSON, when no position is scored.
	MeanScore         float64 `json:"mean_score"`
	WeightedMeanScore float64 `json:"weighted_mean_score"`
}

// EngineDetector is a scheme that can also compute its engine's own
// detector result.
type EngineDetector interface {
	EngineDetect(tokens []uint32) EngineDetection
}

// MarshalJSON writes the members of the engine's result: engine,
// algorithm, score, p_value and num_scored_tokens for vLLM; engine,
// algorithm, mean_score, weighted_mean_score (null when NaN) and
// num_scored_tokens when NoPValue (SynthID).
func (e EngineDetection) MarshalJSON() ([]byte, error) {
	if !e.NoPValue {
		return json.Marshal(struct {
			Engine          string  `json:"engine"`
			Algorithm       string  `json:"algorithm"`
			Score           float64 `json:"score"`
			PValue          float64 `json:"p_value"`
			NumScoredTokens int     `json:"num_scored_tokens"`
		}{e.Engine, e.Algorithm, e.Score, e.PValue, e.NumScoredTokens})
	}
	return json.Marshal(struct {
		Engine            string   `json:"engine"`
		Algorithm         string   `json:"algorithm"`
		MeanScore         *float64 `json:"mean_score"`
		WeightedMeanScore *float64 `json:"weighted_mean_score"`
		NumScoredTokens   int      `json:"num_scored_tokens"`
	}{e.Engine, e.Algorithm, finiteOrNil(e.MeanScore), finiteOrNil(e.WeightedMeanScore), e.NumScoredTokens})
}

// finiteOrNil returns &x, or nil for NaN and infinities (JSON has no
// form for them).
func finiteOrNil(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
