package detect

import "github.com/tracemark/tracemark/watermark"

// Corpus-disjoint document tests.
//
// Under one fixed key, documents that share a template share (seed, token)
// tuples, and a shared tuple has one colour in all of them: their
// per-document p-values move together, so a count of flagged documents can
// be far more variable than a binomial count. Scoring each distinct tuple
// of the corpus in at most one document (the first that holds it) makes
// the documents' observations disjoint; distinct tuples are independent
// under the null, so the documents' p-values are then independent across
// the corpus, and the pooled test (the sum of all documents' tallies) counts
// each tuple once, as Pooled does.

// CorpusSeen is a corpus-wide seen set of tuples for corpus-disjoint
// document tests: documents offered in input order keep only the tuples
// that no earlier document held. It is keyed by a DedupKey, exact up to a
// bound and a Bloom filter after it (as TupleSet): a false hit drops a new
// tuple, and since the fingerprints are keyed independently of the
// watermark key, which tuples are dropped does not depend on their keyed
// values, so the kept tuples are still independent under the null (it
// costs power, never validity). It is not safe for concurrent use, and the
// order of the calls decides the result.
type CorpusSeen struct {
	set *TupleSet
	fps [32]uint64
}

// NewCorpusSeen returns an empty seen set holding maxExact tuples exactly
// and then a Bloom filter of bloomBytes (0, 0: DefaultPooledExact and
// DefaultPooledBloom).
func NewCorpusSeen(key DedupKey, maxExact, bloomBytes int) *CorpusSeen {
	if maxExact <= 0 {
		maxExact, bloomBytes = DefaultPooledExact, DefaultPooledBloom
	}
	return &CorpusSeen{set: NewTupleSet(key, maxExact, bloomBytes)}
}

// Keep appends to dst the observations of obs whose tuples the set has not
// seen, marks them seen, and returns dst. obs must hold each tuple once
// (Detector.Observations does). It allocates only when dst must grow.
func (s *CorpusSeen) Keep(dst, obs []watermark.Observation) []watermark.Observation {
	for len(obs) > 0 {
		b := obs[:min(len(s.fps), len(obs))]
		fps := s.fps[:len(b)]
		for i, o := range b {
			fps[i] = s.set.fingerprintOf(o.Tuple)
		}
		s.set.warm(fps)
		for i, fp := range fps {
			if s.set.addFingerprint(fp) {
				dst = append(dst, b[i])
			}
		}
		obs = obs[len(b):]
	}
	return dst
}

// KeepFingerprint marks the tuple of fingerprint fp (DedupKey.Fingerprint
// under the set's key) seen and reports whether it was new: what Keep does
// for one tuple, for callers that stored fingerprints (merging scan output
// directories).
func (s *CorpusSeen) KeepFingerprint(fp uint64) bool {
	if fp == 0 {
		fp = 1 // as fingerprintOf
	}
	return s.set.addFingerprint(fp)
}

// Exact reports whether no tuple has gone to the Bloom filter yet.
func (s *CorpusSeen) Exact() bool { return s.set.Exact() }

// Len returns how many distinct tuples the set holds.
func (s *CorpusSeen) Len() int { return s.set.Len() }

// CorpusDocs is the corpus-disjoint per-document test of one scheme: each
// call to Document scores one document on the tuples no earlier document
// held, so that the documents' p-values are independent across the corpus
// under the null, and Pooled gives the corpus-level test, which is the sum
// of those tallies (each distinct tuple of the corpus once). Documents must
// be given in one deterministic order (scan uses input order) for the
// results to be reproducible. It is not safe for concurrent use.
type CorpusDocs struct {
	cfg   watermark.Config
	keyID string
	alpha float64
	seen  *CorpusSeen
	eval  evaluator
	kept  []watermark.Observation
	doc   Tally
	total Tally
}

// NewCorpusDocs returns the corpus-disjoint test of the scheme cfg under
// the key keyID (recorded in results; the observations are already keyed),
// with fingerprints under key and the default seen-set bounds; alpha 0
// means DefaultAlpha.
func NewCorpusDocs(cfg watermark.Config, keyID string, key DedupKey, alpha float64) *CorpusDocs {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	return &CorpusDocs{cfg: cfg, keyID: keyID, alpha: alpha, seen: NewCorpusSeen(key, 0, 0),
		eval: newEvaluator(cfg.Null(), alpha)}
}

// Document scores one document on those of its observations (each tuple
// once, as Detector.Observations gives them) whose tuples no earlier
// document held, and marks all of them seen. The result's Scored counts the
// tuples kept; repeats is how many were dropped as held by an earlier
// document.
func (c *CorpusDocs) Document(obs []watermark.Observation) (r Result, repeats int) {
	c.kept = c.seen.Keep(c.kept[:0], obs)
	c.doc.Reset()
	null := c.eval.null
	for _, o := range c.kept {
		c.doc.Add(null, o)
	}
	c.total.AddTally(&c.doc)
	r = Result{Scheme: c.cfg.String(), KeyID: c.keyID, Alpha: c.alpha, Dedup: true}
	c.eval.evaluate(&c.doc, &r)
	return r, len(obs) - len(c.kept)
}

// Pooled evaluates the corpus-level test over all documents so far: each
// distinct tuple counted once, in the document that first held it.
func (c *CorpusDocs) Pooled() PooledResult {
	r := Result{Scheme: c.cfg.String(), KeyID: c.keyID, Alpha: c.alpha, Dedup: true}
	c.eval.evaluate(&c.total, &r)
	return PooledResult{Result: r, Exact: c.seen.Exact(), Tally: c.total.Clone()}
}
