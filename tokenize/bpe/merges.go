package bpe

import (
	"errors"
	"fmt"
	"math/bits"
)

// Merges is a byte-pair model defined by an ordered list of merges, as in
// Hugging Face tokenizers' BPE model: a piece starts as one symbol per byte
// (byte-level models) and the adjacent pair of symbols that appears earliest
// in the merge list is joined, leftmost first among equal pairs, until no
// adjacent pair is a merge. Unlike Ranks, two adjacent tokens whose
// concatenation is a token are not joined unless their pair is listed. It is
// immutable and safe for concurrent use.
type Merges struct {
	vocab *Ranks // token bytes by ID, and bytes to ID
	// pairs is an open-addressing table from left<<32|right to
	// rank<<32|merged; a zero key marks an empty slot (IDs are stored +1).
	// Key and value share a slot, so a probe touches one cache line.
	pairs []pairSlot
	shift uint
	// ignoreMerges returns a piece that is itself a token as that token,
	// without merging (Hugging Face's ignore_merges).
	ignoreMerges bool
}

const noPair = ^uint64(0)

type pairSlot struct{ key, val uint64 }

// NewMerges returns the model with the given tokens (tokens[id] is the
// bytes of token id; an empty entry is an ID without a token) and merges
// (pairs of token IDs, in priority order). Every merged pair must concatenate
// to a token. If byteLevel, every single byte must be a token (pieces are
// then encoded with AppendEncode); otherwise the caller makes the initial
// symbols and calls MergeSymbols. If ignoreMerges is set, a
// piece that is a token encodes as that token directly.
func NewMerges(tokens [][]byte, merges [][2]uint32, byteLevel, ignoreMerges bool) (*Merges, error) {
	if len(tokens) == 0 {
		return nil, errors.New("empty vocabulary")
	}
	if len(tokens) > MaxRank {
		return nil, fmt.Errorf("%d tokens: too many", len(tokens))
	}
	size := 0
	for _, t := range tokens {
		size += len(t)
	}
	rk := &Ranks{arena: make([]byte, 0, size), start: make([]uint32, len(tokens)+1)}
	for id, t := range tokens {
		rk.start[id] = uint32(len(rk.arena))
		rk.arena = append(rk.arena, t...)
	}
	rk.start[len(tokens)] = uint32(len(rk.arena))
	if err := rk.buildIndex(byteLevel); err != nil {
		return nil, err
	}
	m := &Merges{vocab: rk, ignoreMerges: ignoreMerges}
	// At most two thirds full (a look-up that fails probes about three
	// slots, mostly in one cache line): half the memory of a table at most
	// a third full, and the pages a text touches are fewer.
	slots := 1 << bits.Len(uint(len(merges)+len(merges)/2+1))
	m.pairs = make([]pairSlot, slots)
	m.shift = uint(64 - bits.TrailingZeros(uint(slots)))
	mask := uint64(slots - 1)
	var buf []byte
	for rank, p := range merges {
		l, lok := rk.Token(p[0])
		r, rok := rk.Token(p[1])
		if !lok || !rok {
			return nil, fmt.Errorf("merge %d: token %d or %d is not in the vocabulary", rank, p[0], p[1])
		}
		buf = append(append(buf[:0], l...), r...)
		merged, ok := rk.Rank(unsafeString(buf))
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q is not in the vocabulary", rank, l, r, buf)
		}
		key := pairKey(p[0], p[1])
		for i := mixPair(key) >> m.shift; ; i = (i + 1) & mask {
			if m.pairs[i].key == 0 {
				m.pairs[i] = pairSlot{key, uint64(rank)<<32 | uint64(merged)}
				break
			}
			if m.pairs[i].key == key {
				break // a repeated merge keeps its first (highest) priority
			}
		}
	}
	return m, nil
}

func pairKey(l, r uint32) uint64 { return uint64(l+1)<<32 | uint64(r+1) }

func mixPair(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	return k ^ k>>33
}

// lookup returns rank<<32|merged for the pair (l, r), or noPair.
func (m *Merges) lookup(l, r uint32) uint64 {
	key := pairKey(l, r)
	mask := uint64(len(m.pairs) - 1)
	for i := mixPair(key) >> m.shift; ; i = (i + 1) & mask {
		switch p := &m.pairs[i]; p.key {
		case key:
			return p.val
		case 0:
			return noPair
		}
	}
}

// IgnoreMerges reports whether a piece that is a token encodes as that
// token without merging (Hugging Face's ignore_merges).
func (m *Merges) IgnoreMerges() bool { return m.ignoreMerges }

// Vocabulary returns the model's tokens: bytes by ID.
func (m *Merges) Vocabulary() *Ranks { return m.vocab }

// Token returns the bytes of token id, and whether there is one.
func (m *Merges) Token(id uint32) ([]byte, bool) { return m.vocab.Token(id) }

// ID returns the ID of the token with the bytes of s, and whether there is
// one.
func (m *Merges) ID(s string) (uint32, bool) { return m.vocab.Rank(s) }

// AppendEncode appends the tokens of piece (not empty) to dst, starting from
// one symbol per byte. A Scratch must be used with one model only.
func (m *Merges) AppendEncode(dst []uint32, piece string, s *Scratch) []uint32 {
	if len(piece) > cachedLen {
		return m.encodeBytes(dst, piece, s)
	}
	if len(piece) == 1 {
		return append(dst, m.vocab.byByte[piece[0]])
	}
	c := s.pieceCache()
	if out, ok := c.appendCached(dst, piece); ok {
		return out
	}
	start := len(dst)
	dst = m.encodeMissed(dst, piece, s)
	c.store(piece, dst[start:])
	return dst
}

// AppendEncodePieces appends the tokens of the pieces text[start:ends[0]],
// text[ends[0]:ends[1]], ... to dst, as AppendEncode of each would: the
// ends must be increasing, and no piece empty. A batch saves a call per
// piece, and the commonest cases, a piece of up to 8 bytes in the cache's
// small table (one-byte pieces too), its key one load of eight bytes of
// text, masked, and one of 9 to 16 bytes in the mid table, are answered in
// the loop.
func (m *Merges) AppendEncodePieces(dst []uint32, text string, start int, ends []int, s *Scratch) []uint32 {
	c := s.pieceCache()
	for _, end := range ends {
		n := end - start
		if n <= 8 && start+8 <= len(text) {
			k := load64(text[start:]) & lowBytes(n)
			set := &c.small[mix(k, n)>>(64-smallBits)]
			for w := range set {
				if e := set[w]; e.key == k && e.meta&15 == uint64(n) {
					if e.meta&(3<<4) == 1<<4 {
						dst = append(dst, uint32(e.meta>>6)&idMask)
					} else {
						dst = append(dst, uint32(e.meta>>6)&idMask, uint32(e.meta>>34)&idMask)
					}
					if w > 0 {
						// Move the hit to the front: a set's most
						// frequent piece is then found first.
						set[w], set[0] = set[0], e
					}
					goto next
				}
			}
			if n == 1 {
				b := text[start]
				dst = append(dst, m.vocab.byByte[b])
				c.store(text[start:end], dst[len(dst)-1:])
				goto next
			}
		} else if n > 8 && n <= 16 {
			// The mid table, written out (midKey).
			k0, k1 := load64(text[start:]), load64(text[end-8:])
			set := &c.mid[mix2(k0, k1, n)>>(64-midBits)]
			for w := range set {
				if e := set[w]; e.k0 == k0 && e.k1 == k1 && e.meta&31 == uint64(n) {
					dst = e.appendIDs(dst)
					if w > 0 {
						set[w], set[0] = set[0], e
					}
					goto next
				}
			}
		}
		dst = m.AppendEncode(dst, text[start:end], s)
	next:
		start = end
	}
	return dst
}

// encodeMissed encodes a piece of 2 to cachedLen bytes that the piece cache
// did not hold. Most such pieces of prose are rarer words that are tokens
// themselves, and the merges of a token's bytes nearly always give that
// token back: s remembers, token by token, whether they do (see
// Scratch.selfMerge), so that a token whose merges were run once is
// answered next time by one vocabulary look-up instead of the merges' pair
// look-ups.
func (m *Merges) encodeMissed(dst []uint32, piece string, s *Scratch) []uint32 {
	if m.ignoreMerges {
		return m.encodeBytes(dst, piece, s)
	}
	id, ok := m.vocab.Rank(piece)
	if !ok {
		return m.encodeBytes(dst, piece, s)
	}
	known, self := s.selfMerge(id, len(m.vocab.start))
	if known && self {
		return append(dst, id)
	}
	start := len(dst)
	dst = m.encodeBytes(dst, piece, s)
	if !known {
		s.setSelfMerge(id, len(dst)-start == 1 && dst[start] == id)
	}
	return dst
}

func (m *Merges) encodeBytes(dst []uint32, piece string, s *Scratch) []uint32 {
	if m.ignoreMerges {
		if id, ok := m.vocab.Rank(piece); ok {
			return append(dst, id)
		}
	}
	if len(piece) == 1 {
		return append(dst, m.vocab.byByte[piece[0]])
	}
	id := growU(s.id, len(piece))
	for i := range len(piece) {
		id[i] = m.vocab.byByte[piece[i]]
	}
	s.id = id
	return m.MergeSymbols(dst, id, s)
}

// MergeSymbols merges the initial symbols syms (token IDs; modified) and
// appends the result to dst. It is the merge step alone, for models whose
// initial symbols are not bytes (characters, with byte fallback).
func (m *Merges) MergeSymbols(dst []uint32, syms []uint32, s *Scratch) []uint32 {
	if len(syms) <= scanLimit {
		return m.mergeScan(dst, syms, s)
	}
	return m.mergeHeap(dst, syms, s)
}

// mergeScan repeatedly scans the adjacent pairs for the earliest merge.
func (m *Merges) mergeScan(dst []uint32, id []uint32, s *Scratch) []uint32 {
	pair := s.pair[:0]
	for k := 0; k+1 < len(id); k++ {
		pair = append(pair, m.lookup(id[k], id[k+1]))
	}
	for len(id) > 1 {
		best, at := noPair, -1
		for k, p := range pair {
			if p < best {
				best, at = p, k
			}
		}
		if at < 0 {
			break
		}
		id[at] = uint32(best)
		copy(id[at+1:], id[at+2:])
		id = id[:len(id)-1]
		copy(pair[at:], pair[at+1:])
		pair = pair[:len(pair)-1]
		if at < len(pair) {
			pair[at] = m.lookup(id[at], id[at+1])
		}
		if at > 0 {
			pair[at-1] = m.lookup(id[at-1], id[at])
		}
	}
	s.pair = pair
	return append(dst, id...)
}

// mergeHeap merges with a linked list of symbols and a min-heap of
// candidate merges ordered by (rank, position); stale entries are skipped.
func (m *Merges) mergeHeap(dst []uint32, id []uint32, s *Scratch) []uint32 {
	n := int32(len(id))
	next := grow(s.next, int(n)+1)
	prev := grow(s.prev, int(n)+1)
	pair := s.pair[:0]
	for range n + 1 {
		pair = append(pair, noPair)
	}
	h := s.heap[:0]
	for i := range n {
		next[i], prev[i] = i+1, i-1
	}
	next[n], prev[n] = -1, n-1
	for i := range n - 1 {
		pair[i] = m.lookup(id[i], id[i+1])
		if pair[i] != noPair {
			h = append(h, candidate{uint32(pair[i] >> 32), i})
		}
	}
	for k := len(h)/2 - 1; k >= 0; k-- {
		siftDown(h, k)
	}
	for len(h) > 0 {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		siftDown(h, 0)
		i := top.at
		if pair[i] == noPair || uint32(pair[i]>>32) != top.rank {
			continue // stale
		}
		j := next[i]
		id[i] = uint32(pair[i])
		pair[j] = noPair
		next[i] = next[j]
		prev[next[j]] = i
		for _, b := range [2]int32{i, prev[i]} {
			if b < 0 {
				continue
			}
			pair[b] = noPair
			if c := next[b]; c >= 0 && c < n {
				pair[b] = m.lookup(id[b], id[c])
			}
			if pair[b] != noPair {
				h = append(h, candidate{uint32(pair[b] >> 32), b})
				siftUp(h, len(h)-1)
			}
		}
	}
	for i := int32(0); i != n; i = next[i] {
		dst = append(dst, id[i])
	}
	s.next, s.prev, s.pair, s.heap = next, prev, pair, h
	return dst
}
