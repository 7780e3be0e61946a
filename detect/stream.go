package detect

// Stream scores one long text fed in parts (a 300 MB file, a log read as
// it grows) with bounded memory: each part's tokens are observed with the
// last h tokens of the part before as their context, repeats are dropped
// across all parts through a TupleSet (exact up to StreamExact tuples, a
// Bloom filter after that: what it drops is chosen by the DedupKey, not by
// the watermark key, so the test stays exact), and only a tally is kept.
// Fed one part, it gives what Detector.Tokens gives. It is not safe for
// concurrent use.
type Stream struct {
	det      *Detector
	set      *TupleSet
	tally    Tally
	tail     []uint32 // the last h tokens seen, the next part's context
	buf      []uint32
	tokens   int
	dups     int
	excluded int
}

// Memory bounds of a Stream's dedup set: 4 M exact tuples (at most 64 MiB),
// then a 32 MiB Bloom filter.
const (
	StreamExact = 4 << 20
	StreamBloom = 32 << 20
)

// NewStream returns an empty stream scored like d (its scheme and
// options). key keys the dedup set's fingerprints; any key independent of
// the watermark key will do (NewDedupKey).
func (d *Detector) NewStream(key DedupKey) *Stream {
	return &Stream{det: NewFrom(d, d.opts.Exclude), set: NewTupleSet(key, StreamExact, StreamBloom)}
}

// Add scores the next part of the text.
func (s *Stream) Add(ids []uint32) {
	d := s.det
	h := d.scheme.ContextWidth()
	s.tokens += len(ids)
	s.buf = append(append(s.buf[:0], s.tail...), ids...)
	obs := d.scheme.AppendObservations(d.obs[:0], s.buf)
	d.obs = obs
	// Observation i is of s.buf[i+h]; its n-gram is s.buf[i : i+h+1].
	var n int
	if d.opts.Exclude != nil {
		n = d.opts.Exclude.N()
	}
	// With a short tail (the text's first part), AppendObservations starts
	// at position h of the part; with a full tail, at the part's first token.
	for i, o := range obs {
		if n > 0 && d.opts.Exclude.Contains(s.buf[i:i+n]) {
			s.excluded++
			continue
		}
		if !d.opts.NoDedup && !s.set.Add(o.Tuple) {
			s.dups++
			continue
		}
		s.tally.Add(d.eval.null, o)
	}
	keep := min(h, len(s.buf))
	s.tail = append(s.tail[:0], s.buf[len(s.buf)-keep:]...)
}

// Result evaluates everything added so far.
func (s *Stream) Result() Result {
	d := s.det
	r := Result{
		Tokens:     s.tokens,
		Duplicates: s.dups,
		Excluded:   s.excluded,
		Scheme:     d.scheme.Spec(),
		KeyID:      d.scheme.KeyID(),
		Tokenizer:  d.opts.Tokenizer,
		Alpha:      d.opts.Alpha,
		Dedup:      !d.opts.NoDedup,
	}
	t := s.tally.Clone()
	d.eval.evaluate(&t, &r)
	return r
}

// Exact reports whether the dedup set is still exact (no tuple went to
// its Bloom filter).
func (s *Stream) Exact() bool { return s.set.Exact() }
