package detect

import "github.com/tracemark/tracemark/watermark"

// seenSet is the per-document dedup set: open addressing over exact tuples
// with a generation stamp per slot, so that starting a new document costs
// nothing (no clearing) and a lookup costs one hash and, usually, one probe.
// Each document uses only as many slots as its length needs, so short
// documents stay in the fastest cache even after a long one grew the table.
// It allocates only when a document is longer than any before.
type seenSet struct {
	slots []seenSlot
	mask  uint64 // this document's slots are slots[:mask+1]
	gen   uint32
	sink  uint32 // keeps warm's loads
}

// seenBatch is how many observations warm touches ahead of add.
const seenBatch = 32

type seenSlot struct {
	seed  uint64
	token uint32
	gen   uint32
}

// minSeenSlots is the smallest table a document uses.
const minSeenSlots = 1024

// reset starts a new document of at most n tuples.
func (s *seenSet) reset(n int) {
	size := minSeenSlots
	for size < 2*n { // load factor at most 1/2
		size *= 2
	}
	if size > len(s.slots) {
		s.slots = make([]seenSlot, size)
		s.gen = 0
	}
	s.mask = uint64(size - 1)
	s.gen++
	if s.gen == 0 { // wrapped: clear the stamps once every 2^32 documents
		clear(s.slots)
		s.gen = 1
	}
}

// slot is the first slot t probes.
func (s *seenSet) slot(t watermark.Tuple) uint64 {
	return mix(t.Seed^uint64(t.Token)*0x9e3779b97f4a7c15) & s.mask
}

// warm loads the first slot of each observation of a batch. The loads do
// not depend on each other, so the processor overlaps their cache misses
// and the adds that follow find the slots in cache: on a long document,
// whose table outgrows the caches, this halves the cost of dedup.
func (s *seenSet) warm(obs []watermark.Observation) {
	var x uint32
	for i := range obs {
		x ^= s.slots[s.slot(obs[i].Tuple)].gen
	}
	s.sink ^= x
}

// add inserts t and reports whether it was new in this document. The
// document must not hold more tuples than reset was told.
func (s *seenSet) add(t watermark.Tuple) bool {
	for i := s.slot(t); ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		if sl.gen != s.gen {
			sl.seed, sl.token, sl.gen = t.Seed, t.Token, s.gen
			return true
		}
		if sl.seed == t.Seed && sl.token == t.Token {
			return false
		}
	}
}
