package watermark

import "math"

// This file holds the detection fast paths of the vLLM schemes: the same
// functions as vllm_prf.go and vllm_gumbel.go, specialized for scoring a
// token sequence with the Philox PRF (no per-position dispatch, no int64
// copies of the context) and a dedup set for vLLM's own detector that
// costs one hash of the context per position.

// vllmPhiloxStateTokens is vllmPhiloxState of a context of token IDs
// (ctx[i] as the int64 token ID) under key words k0, k1.
func vllmPhiloxStateTokens(k0, k1 uint32, ctx []uint32) [4]uint32 {
	st := [4]uint32{vllmContextDomain, uint32(len(ctx)), 0, 0}
	for off := 0; off < len(ctx); off += 4 {
		var c [4]uint32
		if off+4 <= len(ctx) {
			b := ctx[off : off+4]
			c = [4]uint32{st[0] ^ b[0], st[1] ^ b[1], st[2] ^ b[2], st[3] ^ b[3]}
		} else {
			for i := 0; i < 4; i++ {
				w := uint32(0xFFFFFFFF) - uint32(i)
				if off+i < len(ctx) {
					w = ctx[off+i]
				}
				c[i] = st[i] ^ w
			}
		}
		st = philox4x32(c, k0^uint32(off), k1)
	}
	return st
}

// philoxExpScore is vLLM's detector score -ln(1-u) of the Philox word of
// token t under a context state. 1-u is exact in float64 (u is a float32
// in (0, 1)), so -ln(1-u) is within an ulp of vLLM's -log1p(-u).
func philoxExpScore(k0, k1 uint32, st *[4]uint32, t uint32) float64 {
	out := philox4x32([4]uint32{t >> 2, st[0], st[1], st[2]}, k0^st[3], k1^vllmTokenDomain)
	return -math.Log(1 - float64(vllmUniform(out[t&3])))
}

// philoxSeed is the dedup identity of a Philox context state (see
// vllmUniforms.seed).
func philoxSeed(st *[4]uint32) uint64 {
	return mix64(uint64(st[0])|uint64(st[1])<<32) ^ (uint64(st[2]) | uint64(st[3])<<32)
}

// appendPhiloxGumbel is VLLMGumbel.AppendObservations for the Philox PRF
// (ba == nil) and, with a second key b, VLLMDualGumbel's: the tuple is
// the key-a state's seed, the score the sum of both keys' scores.
func appendPhiloxGumbel(dst []Observation, tokens []uint32, h int, a uint64, b *uint64) []Observation {
	ka0, ka1 := uint32(a), uint32(a>>32)
	for i := h; i < len(tokens); i++ {
		ctx, t := tokens[i-h:i], tokens[i]
		st := vllmPhiloxStateTokens(ka0, ka1, ctx)
		s := philoxExpScore(ka0, ka1, &st, t)
		if b != nil {
			kb0, kb1 := uint32(*b), uint32(*b>>32)
			sb := vllmPhiloxStateTokens(kb0, kb1, ctx)
			s += philoxExpScore(kb0, kb1, &sb, t)
		}
		dst = append(dst, Observation{Tuple: Tuple{philoxSeed(&st), t}, Score: s})
	}
	return dst
}

// ctxSet is the context-level dedup of vLLM's detector: open addressing
// over positions of one token sequence, two positions being equal when
// their h-token windows (padded with -1 on the left) are.
type ctxSet struct {
	tokens []uint32
	h      int
	slots  []int32 // position+1, 0 empty
	mask   uint64
	sink   int32 // keeps warm's loads
}

func newCtxSet(tokens []uint32, h int) *ctxSet {
	size := 16
	for size < 2*len(tokens) {
		size *= 2
	}
	return &ctxSet{tokens: tokens, h: h, slots: make([]int32, size), mask: uint64(size - 1)}
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
	var x int32
	for j := range hs {
		hs[j] = s.hash(i + j)
		x ^= s.slots[hs[j]&s.mask]
	}
	s.sink ^= x
}

// add reports whether position i's context, of hash h, is new, and
// records it.
func (s *ctxSet) add(i int, h uint64) bool {
	for k := h & s.mask; ; k = (k + 1) & s.mask {
		p := int(s.slots[k]) - 1
		if p < 0 {
			s.slots[k] = int32(i + 1)
			return true
		}
		if s.same(p, i) {
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

// philoxEngineGumbel is vLLM's Gumbel detector sum for the Philox PRF
// (EngineDetect's loop without the per-position dispatch): the score of
// each position vLLM keeps (vllmPositions' rule) under key a, and, when b
// is not nil, the alpha-weighted sum (1-alpha)·s_a + alpha·s_b of the
// dual-key detector. It returns the score and the number of positions.
func philoxEngineGumbel(tokens []uint32, h int, a uint64, b *uint64, alpha float64) (float64, int) {
	seen := newCtxSet(tokens, h)
	var hs [ctxBatch]uint64
	var pad [MaxContextWidth]int64
	ka0, ka1 := uint32(a), uint32(a>>32)
	var kb0, kb1 uint32
	if b != nil {
		kb0, kb1 = uint32(*b), uint32(*b>>32)
	}
	score, n := 0.0, 0
	for i, t := range tokens {
		if i%ctxBatch == 0 {
			seen.warm(i, hs[:min(ctxBatch, len(tokens)-i)])
		}
		if !seen.add(i, hs[i%ctxBatch]) {
			continue
		}
		n++
		var sa, sb [4]uint32
		if i >= h {
			sa = vllmPhiloxStateTokens(ka0, ka1, tokens[i-h:i])
			if b != nil {
				sb = vllmPhiloxStateTokens(kb0, kb1, tokens[i-h:i])
			}
		} else {
			for j := 0; j < h; j++ {
				pad[j] = seen.entry(i, j)
			}
			sa = vllmPhiloxState(a, pad[:h])
			if b != nil {
				sb = vllmPhiloxState(*b, pad[:h])
			}
		}
		if b == nil {
			score += philoxExpScore(ka0, ka1, &sa, t)
		} else {
			score += philoxExpScore(ka0, ka1, &sa, t)*(1-alpha) + philoxExpScore(kb0, kb1, &sb, t)*alpha
		}
	}
	return score, n
}
