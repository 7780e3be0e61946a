package detect

import (
	"math/bits"

	"github.com/tracemark/tracemark/watermark"
)

// seenSet is the per-document dedup set: open addressing over indices of
// the kept observations, one 32-bit word per slot, 0 when empty, else
//
//	slot = tag<<shift | (index+1)
//
// where index is that of the kept observation whose tuple occupies the
// slot, shift is the bit length of the document's tuple count plus one,
// and the tag is the top 32-shift bits of the tuple's hash (8 bits or
// more below 2^24 tuples). A lookup compares the tag first and the tuple
// itself (at the index, in the kept observations) only when the tags
// match, so the set is exact: two tuples are merged only when they are
// equal, whatever their hashes. A slot is a quarter of the size of the
// tuple it stands for, so a long document's table stays in a faster cache
// level; it is cleared for each document (a sequential write, which also
// brings the table into the cache ahead of the random probes). Each
// document uses only as many slots as its length needs, so short documents
// stay in the fastest cache even after a long one grew the table. It
// allocates only when a document is longer than any before.
type seenSet struct {
	slots []uint32
	mask  uint64 // this document's slots are slots[:mask+1]
	shift uint   // bit length of the document's tuple count + 1
	sink  uint32 // keeps warm's loads
}

// seenBatch is how many observations warm touches ahead of add.
const seenBatch = 32

// minSeenSlots is the smallest table a document uses.
const minSeenSlots = 1024

// reset starts a new document of at most n tuples.
func (s *seenSet) reset(n int) {
	size := minSeenSlots
	for size < 2*n { // load factor at most 1/2
		size *= 2
	}
	if size > len(s.slots) {
		s.slots = make([]uint32, size)
	} else {
		clear(s.slots[:size])
	}
	s.mask = uint64(size - 1)
	s.shift = uint(bits.Len32(uint32(n + 1)))
}

// seenHash is the hash of t: its low bits pick the first slot, its top
// bits are its tag.
func seenHash(t watermark.Tuple) uint64 {
	return mix(t.Seed ^ uint64(t.Token)*0x9e3779b97f4a7c15)
}

// warm loads the first slot of each observation of a batch. The loads do
// not depend on each other, so the processor overlaps their cache misses
// and the adds that follow find the slots in cache: on a long document,
// whose table outgrows the caches, this halves the cost of dedup.
func (s *seenSet) warm(obs []watermark.Observation) {
	var x uint32
	for i := range obs {
		x ^= s.slots[seenHash(obs[i].Tuple)&s.mask]
	}
	s.sink ^= x
}

// add reports whether t is new in this document and, if so, records it
// as the tuple of kept[len(kept)], the observation the caller keeps next.
// kept holds the observations kept so far in this document; the document
// must not hold more tuples than reset was told.
func (s *seenSet) add(t watermark.Tuple, kept []watermark.Observation) bool {
	h := seenHash(t)
	tag := uint32(h>>32) >> s.shift
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		sl := s.slots[i]
		if sl == 0 {
			s.slots[i] = tag<<s.shift | uint32(len(kept)+1)
			return true
		}
		if sl>>s.shift == tag && kept[sl&(1<<s.shift-1)-1].Tuple == t {
			return false
		}
	}
}
