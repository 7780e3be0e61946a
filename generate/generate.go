// Package generate is the sampling pipeline: it asks a language model for
// next-token scores, applies temperature, top-k, top-p and min-p, applies the
// watermark to the candidates that survive, and draws the next token. The
// Model interface is what a serving stack (or tracemark's built-in n-gram
// model) implements.
//
// Where the watermark goes. tracemark marks the candidate set left after
// truncation, as vLLM does, rather than biasing the full logits before
// truncation, as the KGW reference code does: the mark then never promotes a
// token that top-k, top-p or min-p had ruled out, the sampling stays cheap
// (only the candidates are hashed), and it is exactly what the candidate
// entry point of a serving stack sees. The price is that a step with a
// single surviving candidate carries no mark; such steps are rare at usual
// settings and detection does not depend on them.
package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tracemark/tracemark/watermark"
)

// Model gives next-token scores. It is the interface a serving stack
// implements to hand tracemark its logits.
type Model interface {
	// VocabSize is the number of token IDs: 0..VocabSize-1.
	VocabSize() int
	// Logits fills logits (length VocabSize) with the next-token logits
	// (log-probabilities up to a constant) after ctx. It must not retain
	// either slice. -Inf marks impossible tokens.
	Logits(ctx []uint32, logits []float32)
}

// TopKModel is a Model that can list its k most probable next tokens
// directly, most probable first, with their log-probabilities, without
// filling a full logits vector. The sampler uses it whenever top-k is on.
type TopKModel interface {
	Model
	TopK(ctx []uint32, k int, ids []uint32, logProbs []float32) int
}

// Watermark is the embedding side of a scheme, as the sampler uses it.
// Every watermark.Scheme implements it.
type Watermark interface {
	// SampleLogits draws from the candidates with the mark applied.
	SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng watermark.Uniform) (uint32, error)
	// ArgmaxLogits is greedy decoding with the mark applied. A
	// distortion-free scheme cannot mark greedy decoding and returns
	// watermark.ErrGreedyUnmarkable.
	ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error)
	// ContextWidth is the number of preceding tokens the mark reads.
	ContextWidth() int
	// Deterministic schemes tie the token to its context: the sampler does
	// not mark a context that already occurred in the same generation
	// (SynthID-Text and vLLM do the same), or text would loop.
	Deterministic() bool
}

// Settings are the decoding parameters. They apply in this order:
// temperature, top-k, top-p, min-p; then the watermark; then the draw.
type Settings struct {
	// Temperature divides the logits; 0 means greedy decoding (the most
	// probable candidate; with a green-list watermark, the largest
	// logit + δ·green).
	Temperature float64 `json:"temperature"`
	// TopK keeps the K most probable tokens; 0 keeps all (a dense pass over
	// the vocabulary, slower).
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of most probable tokens whose probability
	// (renormalized within top-k, after temperature) reaches P; 1 is off.
	TopP float64 `json:"top_p"`
	// MinP drops tokens whose probability is below MinP times the most
	// probable one's (after temperature); 0 is off.
	MinP float64 `json:"min_p"`
}

// DefaultSettings are the defaults of `tracemark generate`: temperature 1,
// top-k 40, top-p 0.95, min-p off.
func DefaultSettings() Settings { return Settings{Temperature: 1, TopK: 40, TopP: 0.95} }

// Validate reports the first setting out of range.
func (s Settings) Validate() error {
	switch {
	case !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("temperature must be finite and >= 0, got %v", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("top-k must be >= 0, got %d", s.TopK)
	case !(s.TopP > 0 && s.TopP <= 1):
		return fmt.Errorf("top-p must be in (0, 1], got %v", s.TopP)
	case !(s.MinP >= 0 && s.MinP < 1):
		return fmt.Errorf("min-p must be in [0, 1), got %v", s.MinP)
	}
	return nil
}

// Sampler draws next tokens from a model with the decoding settings and an
// optional watermark. It owns its buffers: one Sampler per goroutine. Next
// allocates nothing.
type Sampler struct {
	model  Model
	topK   TopKModel // model as a TopKModel, or nil
	mark   Watermark // nil: no watermark
	set    Settings
	ids    []uint32
	vals   []float32
	logits []float32 // dense scores, only without a TopKModel or top-k
	order  []uint32  // dense path: candidate order scratch
	// seen holds the contexts marked so far in this generation, for
	// deterministic schemes (Reset clears it; Generate calls Reset).
	seen map[uint64]struct{}
}

// NewSampler returns a sampler. mark may be nil for unwatermarked text.
func NewSampler(model Model, mark Watermark, set Settings) (*Sampler, error) {
	if err := set.Validate(); err != nil {
		return nil, err
	}
	v := model.VocabSize()
	if v <= 0 {
		return nil, fmt.Errorf("model vocabulary size %d", v)
	}
	s := &Sampler{model: model, mark: mark, set: set}
	if mark != nil && mark.Deterministic() {
		s.seen = map[uint64]struct{}{}
	}
	if tk, ok := model.(TopKModel); ok && set.TopK > 0 {
		s.topK = tk
	}
	n := v
	if set.TopK > 0 {
		n = min(set.TopK, v)
	}
	s.ids, s.vals = make([]uint32, n), make([]float32, n)
	if s.topK == nil {
		s.logits = make([]float32, v)
		s.order = make([]uint32, 0, v)
	}
	return s, nil
}

// Reset forgets the contexts marked so far: call it between independent
// generations when calling Next directly (Generate does it itself).
func (s *Sampler) Reset() { clear(s.seen) }

// repeated reports whether the context of a deterministic scheme was
// already marked in this generation, and records it otherwise.
func (s *Sampler) repeated(ctx []uint32) bool {
	if s.seen == nil {
		return false
	}
	h := s.mark.ContextWidth()
	if len(ctx) < h {
		return false
	}
	var k uint64 = 0x9e3779b97f4a7c15
	for _, t := range ctx[len(ctx)-h:] {
		k = (k ^ uint64(t)) * 0xbf58476d1ce4e5b9
		k ^= k >> 29
	}
	if _, ok := s.seen[k]; ok {
		return true
	}
	s.seen[k] = struct{}{}
	return false
}

// ErrNoToken is returned when the model gives no token a finite score.
var ErrNoToken = errors.New("generate: the model gives no token a finite score")

// Next returns the next token after ctx, using one number from rng (none
// when greedy).
func (s *Sampler) Next(ctx []uint32, rng watermark.Uniform) (uint32, error) {
	n := s.candidates(ctx)
	if n == 0 {
		return 0, ErrNoToken
	}
	ids, vals := s.ids[:n], s.vals[:n]
	mark := s.mark
	if mark != nil && s.repeated(ctx) {
		mark = nil
	}
	if s.set.Temperature == 0 {
		if mark == nil {
			return ids[0], nil
		}
		return mark.ArgmaxLogits(ctx, ids, vals)
	}
	if s.set.Temperature != 1 {
		inv := float32(1 / s.set.Temperature)
		for i := range vals {
			vals[i] *= inv
		}
	}
	n = truncate(vals, s.set.TopP, s.set.MinP)
	ids, vals = ids[:n], vals[:n]
	if mark == nil {
		return watermark.SampleLogitsUnmarked(ids, vals, rng)
	}
	return mark.SampleLogits(ctx, ids, vals, rng)
}

// candidates fills s.ids and s.vals with the top-k tokens (all tokens when
// top-k is off), most probable first, and returns how many.
func (s *Sampler) candidates(ctx []uint32) int {
	if s.topK != nil {
		return s.topK.TopK(ctx, len(s.ids), s.ids, s.vals)
	}
	s.model.Logits(ctx, s.logits)
	order := s.order[:0]
	for i, l := range s.logits {
		if !math.IsNaN(float64(l)) && !math.IsInf(float64(l), -1) {
			order = append(order, uint32(i))
		}
	}
	byScore := func(a, b uint32) int {
		la, lb := s.logits[a], s.logits[b]
		switch {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return int(a) - int(b)
	}
	k := len(order)
	if s.set.TopK > 0 && s.set.TopK < k {
		k = s.set.TopK
		selectTop(order, k, byScore)
		order = order[:k]
	}
	// Sorting is needed only for top-p, min-p and greedy; it is O(V log V)
	// when top-k is off: use top-k with large vocabularies.
	slices.SortFunc(order, byScore)
	for i, t := range order {
		s.ids[i], s.vals[i] = t, s.logits[t]
	}
	s.order = order
	return k
}

// selectTop partially orders xs so that its first k elements are the k
// smallest under cmp (quickselect, expected linear time, no allocation).
func selectTop(xs []uint32, k int, cmp func(a, b uint32) int) {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		// Median of three as pivot.
		mid := lo + (hi-lo)/2
		if cmp(xs[mid], xs[lo]) < 0 {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if cmp(xs[hi], xs[lo]) < 0 {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if cmp(xs[hi], xs[mid]) < 0 {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for cmp(xs[i], pivot) < 0 {
				i++
			}
			for cmp(pivot, xs[j]) < 0 {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// truncate applies top-p and min-p to logits sorted in decreasing order and
// returns how many candidates survive (at least one).
func truncate(vals []float32, topP, minP float64) int {
	if topP >= 1 && minP <= 0 || len(vals) <= 1 {
		return len(vals)
	}
	top := float64(vals[0])
	total := 0.0
	for _, v := range vals {
		total += math.Exp(float64(v) - top)
	}
	n, acc := len(vals), 0.0
	for i, v := range vals {
		r := math.Exp(float64(v) - top) // p_i / p_max
		if r < minP {
			n = i
			break
		}
		acc += r / total
		if topP < 1 && acc >= topP {
			n = i + 1
			break
		}
	}
	return max(n, 1)
}

// Generate appends up to maxTokens tokens after prompt and returns them
// (the completion only). It stops early only on error or cancellation.
func (s *Sampler) Generate(ctx context.Context, prompt []uint32, maxTokens int, rng watermark.Uniform) ([]uint32, error) {
	s.Reset()
	seq := make([]uint32, len(prompt), len(prompt)+maxTokens+4)
	copy(seq, prompt)
	for i := 0; i < maxTokens; i++ {
		if i%32 == 0 {
			if err := ctx.Err(); err != nil {
				return seq[len(prompt):], err
			}
		}
		t, err := s.Next(seq, rng)
		if err != nil {
			return seq[len(prompt):], err
		}
		seq = append(seq, t)
	}
	return seq[len(prompt):], nil
}
