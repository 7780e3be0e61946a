package watermark

import (
	"math"
	"math/bits"
	"slices"
	"sync"
)

// This file holds the detection fast paths of the vLLM schemes: the same
// functions as vllm_prf.go and vllm_gumbel.go, specialized for scoring a
// token sequence with the Philox PRF (no per-position dispatch, no int64
// copies of the context) and a dedup set for vLLM's own detector that
// costs one hash of the context per position.

// The fast paths work in blocks of philoxBatchN positions: they gather
// the counters and keys of a block into a philoxBatch, run the vector PRF
// over it (philoxBatch.run), and then score each position (the -ln(1-u)
// or the green test, and the dedup identity) in a scalar loop.

// ctxWords returns the four context words of Philox block off (0, 4, 8,
// ...) of position i's context: the h tokens before i, -1 (0xFFFFFFFF)
// where the context reaches before the first token, 0xFFFFFFFF-j past its
// end. philoxContextStates inlines the common case (a whole block of
// tokens) and calls it for the others.
func ctxWords(tokens []uint32, i, h, off int) [4]uint32 {
	q := i - h + off
	var x [4]uint32
	for j := range 4 {
		switch {
		case off+j >= h:
			x[j] = 0xFFFFFFFF - uint32(j)
		case q+j < 0:
			x[j] = 0xFFFFFFFF
		default:
			x[j] = tokens[q+j]
		}
	}
	return x
}

// philoxContextStates puts into lane l of b the philox4x32-10-v1 context
// state (vllmPhiloxState) under key words k0, k1 of position pos[l] of
// tokens: its h-entry context, padded on the left with -1.
// len(pos) <= philoxBatchN.
func philoxContextStates(b *philoxBatch, tokens []uint32, pos []int, h int, k0, k1 uint32) {
	for off := 0; off < h; off += 4 {
		for l, i := range pos {
			var x0, x1, x2, x3 uint32
			if q := i - h + off; q >= 0 && off+4 <= h {
				t := tokens[q : q+4 : q+4]
				x0, x1, x2, x3 = t[0], t[1], t[2], t[3]
			} else {
				x := ctxWords(tokens, i, h, off)
				x0, x1, x2, x3 = x[0], x[1], x[2], x[3]
			}
			if off == 0 {
				b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l] = vllmContextDomain^x0, uint32(h)^x1, x2, x3
			} else {
				b.c[0][l] ^= x0
				b.c[1][l] ^= x1
				b.c[2][l] ^= x2
				b.c[3][l] ^= x3
			}
			b.k[0][l], b.k[1][l] = k0^uint32(off), k1
		}
		b.run(len(pos))
	}
}

// philoxTokenWords turns the context states in b's first len(pos) lanes
// (philoxContextStates under k0, k1) into the PRF words of the tokens at
// pos (vllmPhiloxWord), written to w, and, when seeds is not nil, writes
// each state's dedup identity (vllmUniforms.seed) to seeds.
func philoxTokenWords(b *philoxBatch, tokens []uint32, pos []int, k0, k1 uint32, w []uint32, seeds []uint64) {
	for l, i := range pos {
		s0, s1, s2, s3 := b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l]
		if seeds != nil {
			seeds[l] = mix64(uint64(s0)|uint64(s1)<<32) ^ (uint64(s2) | uint64(s3)<<32)
		}
		b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l] = tokens[i]>>2, s0, s1, s2
		b.k[0][l], b.k[1][l] = k0^s3, k1^vllmTokenDomain
	}
	b.run(len(pos))
	for l, i := range pos {
		w[l] = b.c[tokens[i]&3][l]
	}
}

// philoxGumbelWords computes, for each position pos[l] of tokens, the
// philox4x32-10-v1 word of its token after its context under key words
// k0, k1 into w[l] and, when seeds is not nil, the dedup identity of its
// context state into seeds[l]. len(pos) <= philoxBatchN; b is scratch.
func philoxGumbelWords(b *philoxBatch, tokens []uint32, pos []int, h int, k0, k1 uint32, w []uint32, seeds []uint64) {
	philoxContextStates(b, tokens, pos, h, k0, k1)
	philoxTokenWords(b, tokens, pos, k0, k1, w, seeds)
}

// appendPhiloxGumbel is VLLMGumbel.AppendObservations for the Philox PRF
// (b == nil) and, with a second key b, VLLMDualGumbel's: the tuple is
// the key-a state's seed, the score the sum of both keys' scores.
func appendPhiloxGumbel(dst []Observation, tokens []uint32, h int, a uint64, b *uint64) []Observation {
	var blk philoxBatch
	var pos [philoxBatchN]int
	var wa, wb [philoxBatchN]uint32
	var seeds [philoxBatchN]uint64
	dst, out := growObservations(dst, len(tokens)-h)
	for i0 := h; i0 < len(tokens); i0 += philoxBatchN {
		n := min(philoxBatchN, len(tokens)-i0)
		for l := range n {
			pos[l] = i0 + l
		}
		philoxGumbelWords(&blk, tokens, pos[:n], h, uint32(a), uint32(a>>32), wa[:n], seeds[:n])
		if b != nil {
			philoxGumbelWords(&blk, tokens, pos[:n], h, uint32(*b), uint32(*b>>32), wb[:n], nil)
		}
		o := out[i0-h : i0-h+n : i0-h+n]
		for l, t := range tokens[i0 : i0+n] {
			s := negLog(1 - float64(vllmUniform(wa[l])))
			if b != nil {
				s += negLog(1 - float64(vllmUniform(wb[l])))
			}
			o[l] = Observation{Tuple: Tuple{seeds[l], t}, Score: s}
		}
	}
	return dst
}

// growObservations extends dst by n observations (none when n <= 0) and
// returns it and the n new ones, to be written by index.
func growObservations(dst []Observation, n int) ([]Observation, []Observation) {
	if n <= 0 {
		return dst, nil
	}
	dst = slices.Grow(dst, n)
	dst = dst[:len(dst)+n]
	return dst, dst[len(dst)-n:]
}

// ctxSet is the context-level dedup of vLLM's detector: open addressing
// over positions of one token sequence, two positions being equal when
// their h-token windows (padded with -1 on the left) are. A slot is one
// 32-bit word, tag<<shift | (position+1), 0 when empty, where shift is
// the bit length of len(tokens)+1 and the tag is the top 32-shift bits of
// the context's hash (8 bits or more below 2^24 tokens): the contexts
// themselves are compared (same) only when the tags match, which is when
// they are equal or, for unequal ones, once in 2^(32-shift) probes. The
// set stays exact: positions are merged only when their contexts are
// equal. It is cleared for each sequence (a sequential write of 4 bytes
// per slot, which also brings the table into the cache ahead of the
// random probes) and reused from a pool (ctxSets).
type ctxSet struct {
	tokens []uint32
	h      int
	slots  []uint32
	mask   uint64
	shift  uint                   // bit length of len(tokens)+1
	sink   uint32                 // keeps warm's loads
	ctx    [MaxContextWidth]int64 // vllmPositions' context buffer
}

// newCtxSet returns a set for the positions of tokens.
func newCtxSet(tokens []uint32, h int) *ctxSet {
	s := &ctxSet{}
	s.reset(tokens, h)
	return s
}

// reset empties s for the positions of tokens.
func (s *ctxSet) reset(tokens []uint32, h int) {
	size := 16
	for size < 2*len(tokens) {
		size *= 2
	}
	if size > len(s.slots) {
		s.slots = make([]uint32, size)
	} else {
		clear(s.slots[:size])
	}
	s.tokens, s.h, s.mask = tokens, h, uint64(size-1)
	s.shift = uint(bits.Len32(uint32(len(tokens) + 1)))
}

// ctxSets is a pool of ctxSets, so that a scheme's EngineDetect allocates
// nothing in the steady state; safe for concurrent use.
type ctxSets struct{ p sync.Pool }

// get returns an empty set for the positions of tokens; put it back after.
func (c *ctxSets) get(tokens []uint32, h int) *ctxSet {
	s, _ := c.p.Get().(*ctxSet)
	if s == nil {
		s = &ctxSet{}
	}
	s.reset(tokens, h)
	return s
}

// put returns s to the pool.
func (c *ctxSets) put(s *ctxSet) {
	s.tokens = nil
	c.p.Put(s)
}

// entry is entry j of position i's context: a token ID or -1.
func (s *ctxSet) entry(i, j int) int64 {
	if p := i - s.h + j; p >= 0 {
		return int64(s.tokens[p])
	}
	return -1
}

// hash is the hash of position i's context: a multiply-add chain over
// its entries (cheap, one dependent multiply per entry) and one mix64.
func (s *ctxSet) hash(i int) uint64 {
	const k = 0xff51afd7ed558ccd
	h := uint64(s.h)
	if i >= s.h { // no padding: hash the window directly
		for _, t := range s.tokens[i-s.h : i] {
			h = (h + uint64(t)) * k
		}
	} else {
		for j := 0; j < s.h; j++ {
			h = (h + uint64(s.entry(i, j))) * k
		}
	}
	return mix64(h)
}

// ctxBatch is how many positions vllmPositions hashes, and whose slots it
// loads, ahead of adding them: the loads do not depend on each other, so
// their cache misses overlap.
const ctxBatch = 32

// warm hashes positions [i, i+len(hs)) into hs and loads their first slots.
func (s *ctxSet) warm(i int, hs []uint64) {
	var x uint32
	for j := range hs {
		hs[j] = s.hash(i + j)
		x ^= s.slots[hs[j]&s.mask]
	}
	s.sink ^= x
}

// add reports whether position i's context, of hash h, is new, and
// records it. The tag is the top bits of h.
func (s *ctxSet) add(i int, h uint64) bool {
	tag := uint32(h>>32) >> s.shift
	for k := h & s.mask; ; k = (k + 1) & s.mask {
		sl := s.slots[k]
		if sl == 0 {
			s.slots[k] = tag<<s.shift | uint32(i+1)
			return true
		}
		if sl>>s.shift == tag && s.same(int(sl&(1<<s.shift-1))-1, i) {
			return false
		}
	}
}

// same reports whether positions p and i have equal contexts.
func (s *ctxSet) same(p, i int) bool {
	if p >= s.h && i >= s.h {
		a, b := s.tokens[p-s.h:p], s.tokens[i-s.h:i]
		for j := range a {
			if a[j] != b[j] {
				return false
			}
		}
		return true
	}
	for j := 0; j < s.h; j++ {
		if s.entry(p, j) != s.entry(i, j) {
			return false
		}
	}
	return true
}

// keep appends to pos the positions in [i0, i1) that vLLM's detector
// scores (their context is new) and records them, hashing and loading
// ctxBatch positions ahead.
func (s *ctxSet) keep(i0, i1 int, pos []int) []int {
	var hs [ctxBatch]uint64
	for i := i0; i < i1; i += ctxBatch {
		m := min(ctxBatch, i1-i)
		s.warm(i, hs[:m])
		for j, h := range hs[:m] {
			if s.add(i+j, h) {
				pos = append(pos, i+j)
			}
		}
	}
	return pos
}

// expSum accumulates vLLM's Gumbel detector sum S = Σ -ln(1-u) with one
// logarithm per expSumRun terms: -ln of the product of their 1-u. Each
// factor is exact in float64 and at least 1/(2^24+1), so a product of 32
// stays above 2^-800 (no underflow); its rounding (at most 32 half-ulps,
// 3.6e-15 relative) moves the group's sum by at most 3.6e-15 absolute, so
// the group sums are added with Kahan compensation, so S is within
// n·1.2e-16 + 6e-16·S of the exact sum (TestExpSumAccuracy), closer than
// adding the n terms one by one (up to n·1.1e-16·S). The p-value
// Q(n, S) then moves by at most that much relative, since the Gamma
// hazard d(-ln Q)/dS is at most 1 for shapes >= 1: about 1e-10 relative
// at a million tokens of ordinary scores, inside the 1e-9 of the vectors.
type expSum struct {
	sum, comp, prod float64 // comp: the Kahan compensation of sum
	k               int
}

// expSumRun is how many factors expSum multiplies before taking a log.
const expSumRun = 32

func newExpSum() expSum { return expSum{prod: 1} }

// add adds -ln(1-u) of PRF word w.
func (e *expSum) add(w uint32) {
	e.prod *= 1 - float64(vllmUniform(w))
	if e.k++; e.k == expSumRun {
		e.flush()
	}
}

// flush adds -ln of the product so far to the sum and restarts it.
func (e *expSum) flush() {
	y := -math.Log(e.prod) - e.comp
	s := e.sum + y
	e.comp = (s - e.sum) - y
	e.sum, e.prod, e.k = s, 1, 0
}

// addAll adds -ln(1-u) of each word of ws. It multiplies whole runs of
// expSumRun factors as four interleaved partial products of eight, so that
// the multiplies do not wait on each other: each run's product takes the
// same 31 roundings as add's (the bound above holds unchanged), and each
// partial product of eight stays above 2^-193.
func (e *expSum) addAll(ws []uint32) {
	for len(ws) > 0 && e.k != 0 { // finish the current run one by one
		e.add(ws[0])
		ws = ws[1:]
	}
	for ; len(ws) >= expSumRun; ws = ws[expSumRun:] {
		r := ws[:expSumRun:expSumRun]
		p0, p1, p2, p3 := 1.0, 1.0, 1.0, 1.0
		for j := 0; j < expSumRun; j += 4 {
			p0 *= 1 - float64(vllmUniform(r[j]))
			p1 *= 1 - float64(vllmUniform(r[j+1]))
			p2 *= 1 - float64(vllmUniform(r[j+2]))
			p3 *= 1 - float64(vllmUniform(r[j+3]))
		}
		e.prod = (p0 * p1) * (p2 * p3)
		e.flush()
	}
	for _, w := range ws {
		e.add(w)
	}
}

// total returns the sum so far.
func (e *expSum) total() float64 { return e.sum + (-math.Log(e.prod) - e.comp) }

// philoxStateHash is the ctxSet hash of the context state in lane l of b:
// its first two words (the state is Philox output, uniformly distributed;
// the slot comes from the first word, the tag from the top of the second).
// Equal contexts have equal states; the set compares the contexts
// themselves (ctxSet.same), so a collision of states never merges two
// contexts.
func philoxStateHash(b *philoxBatch, l int) uint64 {
	return uint64(b.c[0][l]) | uint64(b.c[1][l])<<32
}

// philoxEngineGumbel is vLLM's Gumbel detector sum for the Philox PRF
// (EngineDetect's loop without the per-position dispatch): the score of
// each position vLLM keeps (vllmPositions' rule) under key a, and, when b
// is not nil, the alpha-weighted sum (1-alpha)·S_a + alpha·S_b of the
// dual-key detector. It returns the score and the number of positions.
// Each block's context states under key a are computed for every
// position first and serve as the hashes of vLLM's context dedup; the
// kept positions' states are then moved to the front of the batch for the
// token stage.
func philoxEngineGumbel(seen *ctxSet, tokens []uint32, h int, a uint64, b *uint64, alpha float64) (float64, int) {
	var blk philoxBatch
	var pos [philoxBatchN]int
	var w [philoxBatchN]uint32
	ka0, ka1 := uint32(a), uint32(a>>32)
	sa, sb := newExpSum(), newExpSum()
	n := 0
	for i0 := 0; i0 < len(tokens); i0 += philoxBatchN {
		m := min(philoxBatchN, len(tokens)-i0)
		for l := range m {
			pos[l] = i0 + l
		}
		philoxContextStates(&blk, tokens, pos[:m], h, ka0, ka1)
		var x uint32 // load every slot first, so that the cache misses overlap
		for l := range m {
			x ^= seen.slots[philoxStateHash(&blk, l)&seen.mask]
		}
		seen.sink ^= x
		k := 0
		for l := range m {
			if !seen.add(i0+l, philoxStateHash(&blk, l)) {
				continue
			}
			pos[k] = i0 + l
			blk.c[0][k], blk.c[1][k], blk.c[2][k], blk.c[3][k] = blk.c[0][l], blk.c[1][l], blk.c[2][l], blk.c[3][l]
			k++
		}
		if k == 0 {
			continue
		}
		n += k
		philoxTokenWords(&blk, tokens, pos[:k], ka0, ka1, w[:k], nil)
		sa.addAll(w[:k])
		if b != nil {
			philoxGumbelWords(&blk, tokens, pos[:k], h, uint32(*b), uint32(*b>>32), w[:k], nil)
			sb.addAll(w[:k])
		}
	}
	if b == nil {
		return sa.total(), n
	}
	return (1-alpha)*sa.total() + alpha*sb.total(), n
}

// sbwBlock scores SBW positions a block at a time: the seed of each
// position (selfhash's minimum or lefthash's sum, vLLM's int64
// arithmetic), then the green test of its token through the vector PRF.
type sbwBlock struct {
	b     philoxBatch
	hh    [philoxBatchN + MaxContextWidth]int64 // sbwHashInt of the entries from i0-h
	seeds [philoxBatchN]int64
}

// sbwEntry is entry q of vLLM's padded view of tokens: the token, or -1
// before the first.
func sbwEntry(tokens []uint32, q int) int64 {
	if q < 0 {
		return -1
	}
	return int64(tokens[q])
}

// green computes, for positions pos (increasing, all in [i0,
// i0+philoxBatchN)), the seed of each position's token after its context
// (the h entries before it, -1 padded) into k.seeds and, when g is not
// nil, whether the token is green into g; it returns the number of green
// tokens. hashed selects the detector's lefthash rule (a sum of hashed
// entries) over the sampler's (raw entries).
func (k *sbwBlock) green(s *VLLMSBW, tokens []uint32, i0 int, pos []int, hashed bool, g []bool) int {
	h := s.cfg.H
	n := len(pos)
	if n == 0 {
		return 0
	}
	if s.self || hashed {
		last := pos[n-1]
		for q := i0 - h; q <= last; q++ {
			k.hh[q-(i0-h)] = sbwHashInt(sbwEntry(tokens, q))
		}
	}
	key := s.key
	for l, i := range pos {
		r := i - i0 // entry i-h+j is k.hh[r+j]; the token itself k.hh[r+h]
		var seed int64
		switch {
		case s.self:
			// vLLM's key·c·hv and key·hv·hv, with key·hv taken once:
			// wrapping int64 products commute and associate.
			hv := k.hh[r+h]
			kv := key * hv
			seed = kv * hv
			for _, c := range k.hh[r+1 : r+h] {
				if x := kv * c; x < seed {
					seed = x
				}
			}
		case hashed:
			var sum int64
			for _, c := range k.hh[r : r+h] {
				sum += c
			}
			seed = key * sum
		default:
			var sum int64
			for q := i - h; q < i; q++ {
				sum += sbwEntry(tokens, q)
			}
			seed = key * sum
		}
		k.seeds[l] = seed
		k.b.c[0][l], k.b.c[1][l], k.b.c[2][l], k.b.c[3][l] = tokens[i]>>2, 0, 0, 0
		k.b.k[0][l], k.b.k[1][l] = uint32(seed), uint32(uint64(seed)>>32)
	}
	k.b.run(n)
	w := 0
	for l, i := range pos {
		gr := k.b.c[tokens[i]&3][l]&sbwInt31 < s.threshold
		if g != nil {
			g[l] = gr
		}
		if gr {
			w++
		}
	}
	return w
}
