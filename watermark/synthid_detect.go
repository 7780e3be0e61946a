package watermark

import (
	"math"
	"math/bits"
	"sync"
)

// Engine and algorithm names of SynthID-Text's own detector results
// (EngineDetection.Engine and Algorithm).
const (
	// EngineTransformers names Hugging Face transformers, whose
	// SynthIDTextWatermarkLogitsProcessor computes the g-values and the
	// repetition mask of impl=transformers.
	EngineTransformers = "transformers"
	// EngineSynthIDText names google-deepmind/synthid-text, whose
	// SynthIDLogitsProcessor computes those of impl=deepmind.
	EngineSynthIDText = "synthid-text"
	// AlgorithmSynthID is the algorithm name of SynthID-Text's results.
	AlgorithmSynthID = "synthid"
)

// SynthIDScore is what SynthID-Text's own mean detectors
// (detector_mean.py) report for a token sequence: g-values of positions
// whose context repeats within the history window are masked out.
type SynthIDScore struct {
	Scored       int     // unmasked positions
	Mean         float64 // mean g-value over unmasked positions and layers (NaN if none)
	WeightedMean float64 // the same with layer weights linspace(10, 1, depth) scaled to sum to depth (NaN if none)
}

// ReferenceScore computes SynthID-Text's mean and weighted-mean scores of
// tokens with its repeated-context mask, as its detectors do on the engine
// processors' g-values (compute_g_values, compute_context_repetition_mask,
// mean_score and weighted_mean_score; the EOS mask is not applied).
// tracemark's own evidence (AppendObservations and detect) instead counts
// each distinct n-gram once over the whole text. It allocates nothing in
// the steady state (the window is pooled) and is safe for concurrent use.
func (s *SynthID) ReferenceScore(tokens []uint32) SynthIDScore {
	h, d := s.cfg.NgramLen-1, s.cfg.Depth
	r := SynthIDScore{Mean: math.NaN(), WeightedMean: math.NaN()}
	if len(tokens) <= h {
		return r
	}
	w := s.windows.get(len(tokens)-h, s.cfg.History)
	defer s.windows.put(w)
	// Per-layer counts of ones, bit-sliced: bit l of cnt[k] is bit k of
	// layer l's count, so adding a position's g-values is a ripple carry
	// over a couple of words on average instead of a loop over the layers.
	var cnt [64]uint64
	for i := h; i < len(tokens); i++ {
		c := s.ContextHash(tokens[i-h : i])
		if w.seen(c) {
			continue
		}
		r.Scored++
		carry := s.gvalues(synthIDStep(c, uint64(tokens[i])))
		for k := 0; carry != 0; k++ {
			cnt[k], carry = cnt[k]^carry, cnt[k]&carry
		}
	}
	if r.Scored == 0 {
		return r
	}
	var ones, weighted float64
	for l := 0; l < d; l++ {
		n := 0
		for k := range cnt {
			n |= int(cnt[k]>>l&1) << k
		}
		ones += float64(n)
		weighted += float64(n) * s.weights[l]
	}
	den := float64(d) * float64(r.Scored)
	r.Mean, r.WeightedMean = ones/den, weighted/den
	return r
}

// RepetitionMask appends, for every position with ngram_len-1 preceding
// tokens, whether SynthID scores it (its context is not repeated within
// the history window).
func (s *SynthID) RepetitionMask(dst []bool, tokens []uint32) []bool {
	h := s.cfg.NgramLen - 1
	if len(tokens) <= h {
		return dst
	}
	w := s.windows.get(len(tokens)-h, s.cfg.History)
	defer s.windows.put(w)
	for i := h; i < len(tokens); i++ {
		dst = append(dst, !w.seen(s.ContextHash(tokens[i-h:i])))
	}
	return dst
}

// EngineDetect is SynthID-Text's own detector result (ReferenceScore): its
// mean and weighted-mean scores under its repetition mask. SynthID's mean
// detectors give scores, not a p-value, so NoPValue is set; tracemark's
// evidence (detect) gives the exact p-value.
func (s *SynthID) EngineDetect(tokens []uint32) EngineDetection {
	r := s.ReferenceScore(tokens)
	engine := EngineTransformers
	if s.cfg.Impl == SynthIDDeepMind {
		engine = EngineSynthIDText
	}
	return EngineDetection{Engine: engine, Algorithm: AlgorithmSynthID, NoPValue: true,
		NumScoredTokens: r.Scored, MeanScore: r.Mean, WeightedMeanScore: r.WeightedMean}
}

// synthIDWindow is SynthID's repeated-context mask computed without
// scanning the window. The engines keep the hashes of the last History
// contexts (initially History zeros) and call a context repeated when its
// hash is among them (SynthIDHistory). Equivalently, the context of the
// p-th position (counting from 0) is repeated when the latest earlier
// position with the same hash is at most History positions before it, or
// when its hash is 0 and p < History (an initial zero is still in the
// window). The set maps each hash to its latest position, so each position
// costs one probe.
//
// Only the last History positions can decide a later lookup, so the set
// holds at most 4·History positions: when it is full it is rebuilt from the
// last History hashes, kept in a ring, which bounds its memory by the
// window, not the text, at one extra insertion per three positions.
type synthIDWindow struct {
	slots   []synthIDSlot // open addressing, linear probing; len a power of two
	shift   uint          // 64 - log2(len(slots))
	history int
	p       int      // positions looked up so far
	used    int      // positions inserted since the last reset or rebuild
	limit   int      // positions the set takes before a rebuild
	ring    []uint64 // the last history hashes, when a rebuild can come (else empty)
	next    int      // the ring's oldest entry
}

// synthIDSlot is a context hash and 1 + its latest position (0: empty).
type synthIDSlot struct {
	hash, pos uint64
}

// reset empties the window for a text of n positions and the given
// history (>= 1).
func (w *synthIDWindow) reset(n, history int) {
	w.limit = max(1, min(n, 4*history))
	lg := max(4, bits.Len(uint(2*w.limit-1))) // at most half the slots used
	size := 1 << lg
	if cap(w.slots) < size {
		w.slots = make([]synthIDSlot, size)
	} else {
		w.slots = w.slots[:size]
		clear(w.slots)
	}
	w.shift, w.history, w.p, w.used, w.next = uint(64-lg), history, 0, 0, 0
	w.ring = w.ring[:0] // its capacity is kept for the next text
	if n > w.limit {
		if cap(w.ring) < history {
			w.ring = make([]uint64, history)
		}
		w.ring = w.ring[:history] // every entry is written before a rebuild reads it
	}
}

// seen reports whether the context hash c of the next position is
// repeated, and records it.
func (w *synthIDWindow) seen(c uint64) bool {
	if w.used == w.limit {
		w.rebuild()
	}
	r := w.insert(c, w.p)
	if len(w.ring) > 0 {
		w.ring[w.next] = c
		if w.next++; w.next == len(w.ring) {
			w.next = 0
		}
	}
	w.p++
	return r
}

// insert records hash c at position p and reports whether it repeats.
func (w *synthIDWindow) insert(c uint64, p int) bool {
	w.used++
	// The context hash is an LCG output, weak in its low bits: index by
	// the top bits of a multiplicative hash.
	mask := uint64(len(w.slots) - 1)
	for i := (c * 0x9e3779b97f4a7c15) >> w.shift; ; i = (i + 1) & mask {
		sl := &w.slots[i]
		if sl.pos == 0 {
			sl.hash, sl.pos = c, uint64(p)+1
			return c == 0 && p < w.history
		}
		if sl.hash == c {
			last := int(sl.pos - 1)
			sl.pos = uint64(p) + 1
			return p-last <= w.history || c == 0 && p < w.history
		}
	}
}

// rebuild refills the full set with the last history positions (the ring;
// w.p >= 4·history here).
func (w *synthIDWindow) rebuild() {
	clear(w.slots)
	w.used = 0
	q := w.p - w.history
	for _, c := range w.ring[w.next:] {
		w.insert(c, q)
		q++
	}
	for _, c := range w.ring[:w.next] {
		w.insert(c, q)
		q++
	}
}

// synthIDWindows is a pool of windows, so that ReferenceScore allocates
// nothing in the steady state; safe for concurrent use.
type synthIDWindows struct{ p sync.Pool }

// get returns an empty window for a text of n positions.
func (ws *synthIDWindows) get(n, history int) *synthIDWindow {
	w, _ := ws.p.Get().(*synthIDWindow)
	if w == nil {
		w = &synthIDWindow{}
	}
	w.reset(n, history)
	return w
}

// put returns w to the pool.
func (ws *synthIDWindows) put(w *synthIDWindow) { ws.p.Put(w) }
