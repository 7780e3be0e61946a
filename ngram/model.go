// Package ngram is tracemark's built-in language model: an interpolated,
// modified Kneser–Ney n-gram model over token IDs (order 4 by default),
// trained from public-domain books shipped with the repository. It stands in
// for the neural model of a serving stack, so that generation, detection and
// benchmarks run anywhere with no model download. Results made with it say
// so: no neural model weights are used anywhere in tracemark.
package ngram

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Order is the model's n-gram order: it conditions on the last Order-1 tokens.
const Order = 4

// tokenBits is the width of one token ID in a packed context key; contexts
// of Order-1 tokens fit one uint64 exactly.
const tokenBits = 21

// MaxVocab is the largest vocabulary a model can be trained on.
const MaxVocab = 1 << tokenBits

// Model is a trained n-gram model. It is immutable and safe for concurrent
// use; per-goroutine scratch lives in a Session.
type Model struct {
	vocab  int
	cont1  []uint32  // unigram continuation counts N1+(•w)
	p1     []float64 // unigram probability P1(w), smoothed with a uniform floor
	logP1  []float32 // ln P1(w)
	rank   []uint32  // token IDs by decreasing P1
	levels [Order + 1]level
	disc1  discounts
}

// level holds the statistics of one order n >= 2: for each context of n-1
// tokens, the tokens seen after it with their counts (raw counts at the top
// order, Kneser–Ney continuation counts below).
type level struct {
	keys   []uint64  // sorted packed contexts
	start  []uint32  // entries of context i are start[i]:start[i+1]
	words  []uint32  // sorted by word within a context
	counts []uint32  //
	total  []uint32  // per context: Σ counts
	gamma  []float64 // per context: backoff weight γ(h)
	disc   discounts
}

// discounts are the modified Kneser–Ney discounts D1, D2, D3+ of one order
// (Chen and Goodman 1998), estimated from its count-of-counts.
type discounts [3]float64

func (d *discounts) of(c uint32) float64 {
	switch c {
	case 0:
		return 0
	case 1:
		return d[0]
	case 2:
		return d[1]
	default:
		return d[2]
	}
}

// estimateDiscounts computes D1, D2, D3+ from count-of-counts n1..n4,
// falling back to 0.5, 1, 1.5 times Y = n1/(n1+2 n2) for tiny corpora.
func estimateDiscounts(counts []uint32) discounts {
	var n [5]float64
	for _, c := range counts {
		if c >= 1 && c <= 4 {
			n[c]++
		}
	}
	d := discounts{0.5, 1, 1.5}
	if n[1] == 0 || n[2] == 0 || n[3] == 0 {
		return d
	}
	y := n[1] / (n[1] + 2*n[2])
	d = discounts{1 - 2*y*n[2]/n[1], 2 - 3*y*n[3]/n[2], 3 - 4*y*n[4]/n[3]}
	for i := range d {
		d[i] = math.Max(0, math.Min(float64(i+1), d[i]))
	}
	return d
}

// VocabSize returns the number of token IDs the model knows: 0..VocabSize-1.
func (m *Model) VocabSize() int { return m.vocab }

// ngram is one occurrence (or distinct type) of an n-gram: context and word.
type ngram struct {
	ctx uint64
	w   uint32
	c   uint32
}

func compareNgram(a, b ngram) int {
	if a.ctx != b.ctx {
		if a.ctx < b.ctx {
			return -1
		}
		return 1
	}
	return int(a.w) - int(b.w)
}

// pack packs ctx (oldest token first) into a context key.
func pack(ctx []uint32) uint64 {
	var k uint64
	for _, t := range ctx {
		k = k<<tokenBits | uint64(t)
	}
	return k
}

// Train builds a model of the given vocabulary size from token sequences
// (one per document; n-grams never cross documents).
func Train(ctx context.Context, docs [][]uint32, vocab int) (*Model, error) {
	if vocab <= 0 || vocab > MaxVocab {
		return nil, fmt.Errorf("ngram: vocabulary size %d out of range (1..%d)", vocab, MaxVocab)
	}
	var grams []ngram
	for d, doc := range docs {
		for i, t := range doc {
			if int(t) >= vocab {
				return nil, fmt.Errorf("ngram: document %d, token %d: ID %d outside the vocabulary of %d", d, i, t, vocab)
			}
			if i >= Order-1 {
				grams = append(grams, ngram{ctx: pack(doc[i-Order+1 : i]), w: t, c: 1})
			}
		}
	}
	m := &Model{vocab: vocab}
	for n := Order; n >= 2; n-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		grams = countDistinct(grams)
		m.levels[n] = buildLevel(grams)
		// Continuation counts of order n-1: each distinct n-gram (x h' w)
		// counts once for (h' w), where h' drops the oldest token x.
		mask := uint64(1)<<(tokenBits*(n-2)) - 1
		for i := range grams {
			grams[i].ctx &= mask
			grams[i].c = 1
		}
	}
	// Unigram continuation counts: distinct bigram types (x w) per w.
	m.cont1 = make([]uint32, vocab)
	for _, g := range countDistinct(grams) {
		m.cont1[g.w]++
	}
	m.finish()
	return m, nil
}

// countDistinct sorts grams and merges equal n-grams, summing their counts.
func countDistinct(grams []ngram) []ngram {
	slices.SortFunc(grams, compareNgram)
	out := grams[:0]
	for _, g := range grams {
		if len(out) > 0 && out[len(out)-1].ctx == g.ctx && out[len(out)-1].w == g.w {
			out[len(out)-1].c += g.c
			continue
		}
		out = append(out, g)
	}
	return out
}

// buildLevel lays out sorted distinct n-grams by context.
func buildLevel(grams []ngram) level {
	var l level
	l.words = make([]uint32, len(grams))
	l.counts = make([]uint32, len(grams))
	for i, g := range grams {
		if i == 0 || g.ctx != grams[i-1].ctx {
			l.keys = append(l.keys, g.ctx)
			l.start = append(l.start, uint32(i))
		}
		l.words[i], l.counts[i] = g.w, g.c
	}
	l.start = append(l.start, uint32(len(grams)))
	return l
}

// finish derives everything that is not stored: discounts, context totals
// and backoff weights, unigram probabilities and their ranking.
func (m *Model) finish() {
	for n := 2; n <= Order; n++ {
		l := &m.levels[n]
		l.disc = estimateDiscounts(l.counts)
		l.total = make([]uint32, len(l.keys))
		l.gamma = make([]float64, len(l.keys))
		for i := range l.keys {
			var tot uint32
			var removed float64
			for j := l.start[i]; j < l.start[i+1]; j++ {
				c := l.counts[j]
				tot += c
				removed += l.disc.of(c)
			}
			l.total[i] = tot
			l.gamma[i] = removed / float64(tot)
		}
	}
	m.disc1 = estimateDiscounts(m.cont1)
	var total, removed float64
	for _, c := range m.cont1 {
		total += float64(c)
		removed += m.disc1.of(c)
	}
	m.p1 = make([]float64, m.vocab)
	m.logP1 = make([]float32, m.vocab)
	uniform := 1 / float64(m.vocab)
	for w, c := range m.cont1 {
		p := uniform
		if total > 0 {
			p = (math.Max(float64(c)-m.disc1.of(c), 0) + removed*uniform) / total
		}
		m.p1[w] = p
		m.logP1[w] = float32(math.Log(p))
	}
	m.rank = make([]uint32, m.vocab)
	for i := range m.rank {
		m.rank[i] = uint32(i)
	}
	sort.SliceStable(m.rank, func(i, j int) bool { return m.p1[m.rank[i]] > m.p1[m.rank[j]] })
}

// located holds, for one context, the index of each order's context entry
// (orders 2..top) and the product of their backoff weights.
type located struct {
	top     int // highest order whose context was seen (1: none)
	idx     [Order + 1]int
	backoff float64 // Π γ over orders 2..top
}

// locate finds the contexts of the last 1..Order-1 tokens of ctx. Tokens
// outside the vocabulary make the context unseen.
func (m *Model) locate(ctx []uint32) located {
	loc := located{top: 1, backoff: 1}
	for n := 2; n <= Order && len(ctx) >= n-1; n++ {
		h := ctx[len(ctx)-(n-1):]
		if slices.ContainsFunc(h, func(t uint32) bool { return int(t) >= m.vocab }) {
			break
		}
		l := &m.levels[n]
		i, ok := slices.BinarySearch(l.keys, pack(h))
		if !ok {
			break
		}
		loc.top, loc.idx[n] = n, i
		loc.backoff *= l.gamma[i]
	}
	return loc
}

// count returns the count of w after context i of level l.
func (l *level) count(i int, w uint32) uint32 {
	words := l.words[l.start[i]:l.start[i+1]]
	if j, ok := slices.BinarySearch(words, w); ok {
		return l.counts[int(l.start[i])+j]
	}
	return 0
}

// interpolate lifts a lower-order probability p to level l, context i, for
// a word seen c times there.
func (l *level) interpolate(i int, c uint32, p float64) float64 {
	return (math.Max(float64(c)-l.disc.of(c), 0))/float64(l.total[i]) + l.gamma[i]*p
}

// LogProb returns ln P(w | ctx), using the last Order-1 tokens of ctx.
// Token IDs outside the vocabulary have probability 0 (-Inf).
func (m *Model) LogProb(ctx []uint32, w uint32) float64 {
	if int(w) >= m.vocab {
		return math.Inf(-1)
	}
	loc := m.locate(ctx)
	p := m.p1[w]
	for n := 2; n <= loc.top; n++ {
		l := &m.levels[n]
		p = l.interpolate(loc.idx[n], l.count(loc.idx[n], w), p)
	}
	return math.Log(p)
}

// Perplexity returns exp of the mean negative log-probability of
// tokens[from:], each given all tokens before it (of which the model uses the
// last Order-1), and the number of tokens scored.
func (m *Model) Perplexity(tokens []uint32, from int) (float64, int) {
	from = max(from, 0)
	if from >= len(tokens) {
		return math.NaN(), 0
	}
	sum := 0.0
	for i := from; i < len(tokens); i++ {
		sum -= m.LogProb(tokens[:i], tokens[i])
	}
	n := len(tokens) - from
	return math.Exp(sum / float64(n)), n
}

// ErrBadModel reports a corrupt or incompatible model file.
var ErrBadModel = errors.New("ngram: bad model data")
