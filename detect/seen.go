package detect

import "github.com/tracemark/tracemark/watermark"

// seenSet is the per-document dedup set: open addressing over indices of
// the kept observations, one 8-byte word per slot holding a generation
// stamp, a 16-bit tag of the tuple's hash and the index of the kept
// observation whose tuple occupies it:
//
//	slot = gen<<48 | tag<<32 | (index+1)
//
// A lookup compares the stamp and tag first and the tuple itself (at the
// index, in the kept observations) only when both match, so the set is
// exact: two tuples are merged only when they are equal, whatever their
// hashes. The slots are half the size of the tuples they stand for, so a
// long document's table stays twice as long in a cache level, and the
// generation stamp makes a new document cost nothing (no clearing). Each
// document uses only as many slots as its length needs, so short
// documents stay in the fastest cache even after a long one grew the
// table. It allocates only when a document is longer than any before.
type seenSet struct {
	slots []uint64
	mask  uint64 // this document's slots are slots[:mask+1]
	gen   uint64 // in [1, seenGens), this document's stamp
	sink  uint64 // keeps warm's loads
}

// seenBatch is how many observations warm touches ahead of add.
const seenBatch = 32

// seenGens is the number of generation stamps (16 bits).
const seenGens = 1 << 16

// minSeenSlots is the smallest table a document uses.
const minSeenSlots = 1024

// reset starts a new document of at most n tuples.
func (s *seenSet) reset(n int) {
	size := minSeenSlots
	for size < 2*n { // load factor at most 1/2
		size *= 2
	}
	if size > len(s.slots) {
		s.slots = make([]uint64, size)
		s.gen = 0
	}
	s.mask = uint64(size - 1)
	s.gen++
	if s.gen == seenGens { // wrapped: clear the stamps once every 2^16 - 1 documents
		clear(s.slots)
		s.gen = 1
	}
}

// hash is the hash of t: its low bits pick the first slot, bits 32-47 are
// its tag.
func seenHash(t watermark.Tuple) uint64 {
	return mix(t.Seed ^ uint64(t.Token)*0x9e3779b97f4a7c15)
}

// warm loads the first slot of each observation of a batch. The loads do
// not depend on each other, so the processor overlaps their cache misses
// and the adds that follow find the slots in cache: on a long document,
// whose table outgrows the caches, this halves the cost of dedup.
func (s *seenSet) warm(obs []watermark.Observation) {
	var x uint64
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
	want := s.gen<<48 | (h>>32&0xFFFF)<<32
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		sl := s.slots[i]
		if sl>>48 != s.gen {
			s.slots[i] = want | uint64(len(kept)+1)
			return true
		}
		if sl&^0xFFFFFFFF == want && kept[uint32(sl)-1].Tuple == t {
			return false
		}
	}
}
