package detect

import "github.com/tracemark/tracemark/watermark"

// seenSet is the per-document dedup set: open addressing over exact tuples
// with a generation stamp per slot, so that starting a new document costs
// nothing (no clearing) and a lookup costs one hash and, usually, one probe.
// It allocates only when a document has more tuples than any before.
type seenSet struct {
	slots []seenSlot
	gen   uint32
	n     int
}

type seenSlot struct {
	tuple watermark.Tuple
	gen   uint32
}

// reset starts a new document.
func (s *seenSet) reset() {
	s.gen++
	s.n = 0
	if s.gen == 0 { // wrapped: clear the stamps once every 2^32 documents
		for i := range s.slots {
			s.slots[i].gen = 0
		}
		s.gen = 1
	}
}

// add inserts t and reports whether it was new in this document.
func (s *seenSet) add(t watermark.Tuple) bool {
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := mix(t.Seed^uint64(t.Token)*0x9e3779b97f4a7c15) & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.gen != s.gen {
			sl.tuple, sl.gen = t, s.gen
			s.n++
			return true
		}
		if sl.tuple == t {
			return false
		}
	}
}

// grow doubles the table, keeping this document's tuples.
func (s *seenSet) grow() {
	old, gen := s.slots, s.gen
	s.slots = make([]seenSlot, max(1024, 2*len(old)))
	s.gen, s.n = 1, 0
	for _, sl := range old {
		if sl.gen == gen {
			s.add(sl.tuple)
		}
	}
}
