package bpe

// Scratch holds the reusable buffers of merges. A Scratch is used by one
// goroutine at a time; after the first few pieces it stops growing, so
// encoding allocates nothing.
type Scratch struct {
	cache *pieceCache
	bound []int32  // part boundaries (byte offsets into the piece)
	rank  []uint32 // rank of the pair starting at each part, or noRank
	id    []uint32 // token of each part
	next  []int32  // linked list of parts, for long pieces
	prev  []int32
	heap  []candidate
	pair  []uint64 // merge of the pair starting at each symbol (Merges)
	// merged holds two bits per token ID (Merges): whether the merges of
	// the token's bytes have been run (bit 2*id), and whether they gave
	// the token itself (bit 2*id+1).
	merged []uint64
}

// selfMerge reports whether the merges of token id's bytes have been run
// with s, and if so whether they gave the token itself; n bounds the IDs.
func (s *Scratch) selfMerge(id uint32, n int) (known, self bool) {
	if s.merged == nil {
		s.merged = make([]uint64, (2*n+63)/64)
	}
	w := s.merged[id/32] >> (2 * (id % 32))
	return w&1 != 0, w&2 != 0
}

// setSelfMerge records whether the merges of token id's bytes gave the
// token itself; selfMerge must have been called first.
func (s *Scratch) setSelfMerge(id uint32, self bool) {
	bit := uint64(1)
	if self {
		bit = 3
	}
	s.merged[id/32] |= bit << (2 * (id % 32))
}

const noRank = ^uint32(0)

// scanLimit is the piece length, in bytes, up to which merges find the
// lowest-ranked pair by scanning the pairs (O(n) per merge) instead of keeping
// a heap (O(log n) per merge). Pieces are short: 99.9% of English and Go
// pieces are under 24 bytes, where the scan's tight loop over a small array
// beats heap upkeep; the heap bounds the cost of long pieces (runs of digits
// in cl100k are cut to 3, but a run of 100,000 punctuation marks is one
// piece) at O(n log n).
const scanLimit = 48

// AppendEncode appends the tokens of piece to dst. piece must not be empty.
// A Scratch must be used with one Ranks only: it caches pieces' tokens.
func (rk *Ranks) AppendEncode(dst []uint32, piece string, s *Scratch) []uint32 {
	if len(piece) > cachedLen {
		return rk.encode(dst, piece, s)
	}
	if len(piece) == 1 {
		return append(dst, rk.byByte[piece[0]])
	}
	c := s.pieceCache()
	if out, ok := c.appendCached(dst, piece); ok {
		return out
	}
	start := len(dst)
	dst = rk.encode(dst, piece, s)
	c.store(piece, dst[start:])
	return dst
}

func (rk *Ranks) encode(dst []uint32, piece string, s *Scratch) []uint32 {
	if r, ok := rk.Rank(piece); ok {
		return append(dst, r)
	}
	if len(piece) <= scanLimit {
		return rk.mergeScan(dst, piece, s)
	}
	return rk.mergeHeap(dst, piece, s)
}

// pairRank returns the rank of piece[a:c], or noRank.
func (rk *Ranks) pairRank(piece string, a, c int32) uint32 {
	if c-a == 2 {
		return rk.byPair[int(piece[a])<<8|int(piece[a+1])]
	}
	if r, ok := rk.Rank(piece[a:c]); ok {
		return r
	}
	return noRank
}

// mergeScan merges piece by repeatedly scanning for the lowest-ranked pair.
func (rk *Ranks) mergeScan(dst []uint32, piece string, s *Scratch) []uint32 {
	n := len(piece)
	bound := s.bound[:0]
	rank := s.rank[:0]
	id := s.id[:0]
	for i := range n {
		bound = append(bound, int32(i))
		id = append(id, rk.byByte[piece[i]])
	}
	bound = append(bound, int32(n))
	for i := range n - 1 {
		rank = append(rank, rk.pairRank(piece, int32(i), int32(i+2)))
	}
	rank = append(rank, noRank)
	// parts: bound[k]..bound[k+1] for k < len(id); rank[k] is the rank of
	// parts k and k+1 merged.
	for len(id) > 1 {
		best, at := noRank, -1
		for k, r := range rank[:len(id)-1] {
			if r < best {
				best, at = r, k
			}
		}
		if at < 0 {
			break
		}
		id[at] = best
		copy(bound[at+1:], bound[at+2:])
		bound = bound[:len(bound)-1]
		copy(id[at+1:], id[at+2:])
		id = id[:len(id)-1]
		copy(rank[at+1:], rank[at+2:])
		rank = rank[:len(rank)-1]
		if at+2 < len(bound) {
			rank[at] = rk.pairRank(piece, bound[at], bound[at+2])
		} else {
			rank[at] = noRank
		}
		if at > 0 {
			rank[at-1] = rk.pairRank(piece, bound[at-1], bound[at+1])
		}
	}
	dst = append(dst, id...)
	s.bound, s.rank, s.id = bound, rank, id
	return dst
}

// candidate is a pair in mergeHeap's queue: the pair that starts at part
// at, whose union had this rank when it was queued.
type candidate struct {
	rank uint32
	at   int32
}

func (c candidate) less(d candidate) bool {
	return c.rank < d.rank || c.rank == d.rank && c.at < d.at
}

// mergeHeap merges piece with a doubly linked list of parts and a min-heap of
// pairs ordered by (rank, position), so the leftmost of equal ranks merges
// first, as in the scan. Stale heap entries are skipped when popped.
func (rk *Ranks) mergeHeap(dst []uint32, piece string, s *Scratch) []uint32 {
	n := int32(len(piece))
	next := grow(s.next, int(n)+1)
	prev := grow(s.prev, int(n)+1)
	rank := growU(s.rank, int(n)+1)
	id := growU(s.id, int(n))
	h := s.heap[:0]
	for i := range n {
		next[i], prev[i] = i+1, i-1
		id[i] = rk.byByte[piece[i]]
	}
	next[n], prev[n] = -1, n-1
	rank[n] = noRank
	// pairEnd returns the end of the pair starting at part i, or -1.
	pairEnd := func(i int32) int32 {
		j := next[i]
		if j < 0 || j == n {
			return -1
		}
		return next[j]
	}
	for i := range n {
		rank[i] = noRank
		if e := pairEnd(i); e >= 0 {
			rank[i] = rk.pairRank(piece, i, e)
			if rank[i] != noRank {
				h = append(h, candidate{rank[i], i})
			}
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
		if rank[i] != top.rank {
			continue // stale: the pair changed since it was queued
		}
		// Merge part i with its successor j.
		j := next[i]
		id[i] = top.rank
		rank[j] = noRank
		next[i] = next[j]
		prev[next[j]] = i
		for _, b := range [2]int32{i, prev[i]} {
			if b < 0 {
				continue
			}
			rank[b] = noRank
			if e := pairEnd(b); e >= 0 {
				rank[b] = rk.pairRank(piece, b, e)
			}
			if rank[b] != noRank {
				h = append(h, candidate{rank[b], b})
				siftUp(h, len(h)-1)
			}
		}
	}
	for i := int32(0); i != n; i = next[i] {
		dst = append(dst, id[i])
	}
	s.next, s.prev, s.rank, s.id, s.heap = next, prev, rank, id, h
	return dst
}

func grow(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n, n+n/4)
	}
	return b[:n]
}

func growU(b []uint32, n int) []uint32 {
	if cap(b) < n {
		return make([]uint32, n, n+n/4)
	}
	return b[:n]
}

func siftUp(h []candidate, k int) {
	for k > 0 {
		p := (k - 1) / 2
		if !h[k].less(h[p]) {
			break
		}
		h[k], h[p] = h[p], h[k]
		k = p
	}
}

func siftDown(h []candidate, k int) {
	for {
		c := 2*k + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1].less(h[c]) {
			c++
		}
		if !h[c].less(h[k]) {
			return
		}
		h[k], h[c] = h[c], h[k]
		k = c
	}
}
