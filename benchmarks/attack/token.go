package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// maxVocab is the largest vocabulary whose IDs all fit in a uint32.
const maxVocab = 1 << 32

// Delete returns ids without round(frac·len(ids)) positions chosen uniformly
// at random without replacement. The rest keep their order.
func Delete(rng *rand.Rand, ids []uint32, frac float64) ([]uint32, error) {
	m, err := edits(rng, frac, len(ids))
	if err != nil {
		return nil, fmt.Errorf("attack: delete: %w", err)
	}
	drop := choose(rng, len(ids), m)
	out := make([]uint32, 0, len(ids)-m)
	for i, id := range ids {
		if !drop[i] {
			out = append(out, id)
		}
	}
	return out, nil
}

// Insert returns ids with m = round(frac·len(ids)) extra tokens, each drawn
// uniformly from [0, vocab), at random places: the m positions of the new
// tokens in the result (of length len(ids)+m) are chosen uniformly without
// replacement, and the original tokens fill the others in order.
// vocab must be in [1, 2³²].
func Insert(rng *rand.Rand, ids []uint32, frac float64, vocab int) ([]uint32, error) {
	m, err := edits(rng, frac, len(ids))
	if err != nil {
		return nil, fmt.Errorf("attack: insert: %w", err)
	}
	if vocab < 1 || vocab > maxVocab {
		return nil, fmt.Errorf("attack: insert: vocabulary size %d out of range [1, 2^32]", vocab)
	}
	n := len(ids) + m
	put := choose(rng, n, m)
	out := make([]uint32, 0, n)
	j := 0
	for i := range n {
		if put[i] {
			out = append(out, uint32(rng.Int64N(int64(vocab))))
		} else {
			out = append(out, ids[j])
			j++
		}
	}
	return out, nil
}

// Substitute returns a copy of ids in which round(frac·len(ids)) distinct
// positions, chosen uniformly, hold a token drawn uniformly from the tokens
// in [0, vocab) other than the original. vocab must be in [2, 2³²].
func Substitute(rng *rand.Rand, ids []uint32, frac float64, vocab int) ([]uint32, error) {
	m, err := edits(rng, frac, len(ids))
	if err != nil {
		return nil, fmt.Errorf("attack: substitute: %w", err)
	}
	if vocab < 2 || vocab > maxVocab {
		return nil, fmt.Errorf("attack: substitute: vocabulary size %d out of range [2, 2^32]", vocab)
	}
	sub := choose(rng, len(ids), m)
	out := append([]uint32(nil), ids...)
	for i, id := range ids {
		if !sub[i] {
			continue
		}
		if int64(id) >= int64(vocab) {
			// Outside the vocabulary: every token differs from it.
			out[i] = uint32(rng.Int64N(int64(vocab)))
			continue
		}
		w := uint32(rng.Int64N(int64(vocab) - 1))
		if w >= id {
			w++
		}
		out[i] = w
	}
	return out, nil
}

// Alternatives is a language model that proposes next tokens.
// *ngram.Session satisfies it.
type Alternatives interface {
	// TopK writes up to k of the most probable next tokens after ctx,
	// most probable first, into ids and their natural-log probabilities
	// into logProbs, and returns how many it wrote. It must not keep or
	// modify ctx.
	TopK(ctx []uint32, k int, ids []uint32, logProbs []float32) int
}

// SubstituteWithModel returns a copy of ids in which round(frac·len(ids))
// distinct positions, chosen uniformly, are offered for replacement by a
// token the model would plausibly write there, and the number of positions
// it actually changed.
//
// The positions are visited left to right. At position i the model is
// asked for its k most probable tokens after the already edited prefix
// out[:i]; the original token and candidates with a non-finite
// log-probability are dropped, and the replacement is drawn from the rest
// in proportion to their probabilities. So at most k candidates compete,
// k−1 when the original is among the model's top k. If none is left the
// token is kept and does not count as changed. k must be at least 1.
func SubstituteWithModel(rng *rand.Rand, ids []uint32, frac float64, model Alternatives, k int) ([]uint32, int, error) {
	m, err := edits(rng, frac, len(ids))
	if err != nil {
		return nil, 0, fmt.Errorf("attack: model substitution: %w", err)
	}
	if model == nil {
		return nil, 0, fmt.Errorf("attack: model substitution: nil model")
	}
	if k < 1 {
		return nil, 0, fmt.Errorf("attack: model substitution: k = %d, want at least 1", k)
	}
	sub := choose(rng, len(ids), m)
	out := append([]uint32(nil), ids...)
	if m == 0 {
		return out, 0, nil
	}
	cand := make([]uint32, k)
	lps := make([]float32, k)
	weights := make([]float64, k)
	changed := 0
	for i, orig := range ids {
		if !sub[i] {
			continue
		}
		n := max(min(model.TopK(out[:i:i], k, cand, lps), k), 0)
		maxLP := math.Inf(-1)
		for j := range n {
			lp := float64(lps[j])
			if cand[j] != orig && !math.IsInf(lp, 0) && !math.IsNaN(lp) && lp > maxLP {
				maxLP = lp
			}
		}
		if math.IsInf(maxLP, -1) {
			continue // no usable alternative
		}
		total := 0.0
		last := -1
		for j := range n {
			lp := float64(lps[j])
			weights[j] = 0
			if cand[j] != orig && !math.IsInf(lp, 0) && !math.IsNaN(lp) {
				weights[j] = math.Exp(lp - maxLP)
				total += weights[j]
				if weights[j] > 0 {
					last = j
				}
			}
		}
		u := rng.Float64() * total
		pick := last
		for j := range n {
			if weights[j] == 0 {
				continue
			}
			if u < weights[j] {
				pick = j
				break
			}
			u -= weights[j]
		}
		out[i] = cand[pick]
		changed++
	}
	return out, changed, nil
}

// CopyPaste returns a document of len(marked) tokens in which a contiguous
// span of the marked text makes up the fraction frac and human text the
// rest, as when someone pastes a piece of watermarked output into their own
// writing. Keeping the length of the marked document makes detection
// results comparable across fractions.
//
// Precisely: with N = len(marked), s = round(frac·N) and h = N−s, it takes
// the span marked[a:a+s] and the human window human[b:b+h], with a and b
// uniform over the possible starts, and inserts the span into the window
// at a uniform position p in [0, h]: human[b:b+p] + span + human[b+p:b+h].
// If len(human) < h it returns an error wrapping ErrShortHuman. frac = 1
// returns a copy of marked and frac = 0 a human window of length N.
func CopyPaste(rng *rand.Rand, marked, human []uint32, frac float64) ([]uint32, error) {
	N := len(marked)
	s, err := edits(rng, frac, N)
	if err != nil {
		return nil, fmt.Errorf("attack: copy-paste: %w", err)
	}
	h := N - s
	if len(human) < h {
		return nil, fmt.Errorf("attack: copy-paste: %d tokens needed around a %d-token span, have %d: %w",
			h, s, len(human), ErrShortHuman)
	}
	a := rng.IntN(N - s + 1)
	b := rng.IntN(len(human) - h + 1)
	p := rng.IntN(h + 1)
	out := make([]uint32, 0, N)
	out = append(out, human[b:b+p]...)
	out = append(out, marked[a:a+s]...)
	out = append(out, human[b+p:b+h]...)
	return out, nil
}

// Codec is a tokenizer: tokenize.Tokenizer satisfies it.
type Codec interface {
	// Decode returns the text of ids.
	Decode(ids []uint32) (string, error)
	// AppendEncode appends the token IDs of text to dst.
	AppendEncode(dst []uint32, text string) ([]uint32, error)
}

// ReEncode returns the tokens of the text of ids: Decode then encode. The
// text is unchanged, but a sequence the model sampled need not be the
// tokenizer's canonical encoding of its text, so a detector may see
// different tokens. It has no strength and uses no randomness.
func ReEncode(c Codec, ids []uint32) ([]uint32, error) {
	if c == nil {
		return nil, fmt.Errorf("attack: re-encode: nil codec")
	}
	text, err := c.Decode(ids)
	if err != nil {
		return nil, fmt.Errorf("attack: re-encode: decode: %w", err)
	}
	out, err := c.AppendEncode(nil, text)
	if err != nil {
		return nil, fmt.Errorf("attack: re-encode: encode: %w", err)
	}
	return out, nil
}
