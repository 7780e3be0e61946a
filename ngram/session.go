package ngram

import (
	"math"
	"slices"
)

// Session is a model plus the scratch space for next-token queries. It is
// not safe for concurrent use: make one per goroutine. In steady state its
// queries allocate nothing.
type Session struct {
	m    *Model
	best candHeap
}

// NewSession returns a Session on m.
func (m *Model) NewSession() *Session { return &Session{m: m} }

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// VocabSize returns the model's vocabulary size.
func (s *Session) VocabSize() int { return s.m.vocab }

type cand struct {
	w uint32
	p float64
}

// weaker reports whether a ranks below b: lower probability, or equal
// probability and a larger token ID.
func weaker(a, b cand) bool {
	if a.p != b.p {
		return a.p < b.p
	}
	return a.w > b.w
}

// candHeap is a min-heap under weaker, so its root is the weakest of the
// best k. (Hand-written rather than container/heap, whose interface{}
// methods would allocate on every operation.)
type candHeap []cand

func (h candHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && weaker(h[r], h[l]) {
			j = r
		}
		if !weaker(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h candHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// offer adds c to the best k.
func (s *Session) offer(c cand, k int) {
	if len(s.best) < k {
		s.best = append(s.best, c)
		if len(s.best) == k {
			s.best.init()
		}
		return
	}
	if weaker(s.best[0], c) {
		s.best[0] = c
		s.best.down(0)
	}
}

// seen calls f(w, p) with the exact probability of every token seen after
// the bigram context of loc (a superset of those seen at higher orders).
// Tokens not listed have probability loc.backoff·P1(w).
func (s *Session) seen(loc *located, f func(w uint32, p float64)) {
	m := s.m
	l2 := &m.levels[2]
	lo, hi := int(l2.start[loc.idx[2]]), int(l2.start[loc.idx[2]+1])
	// Cursors into the (sorted, nested) entry lists of the higher orders.
	var cur, end [Order + 1]int
	for n := 3; n <= loc.top; n++ {
		l := &m.levels[n]
		cur[n], end[n] = int(l.start[loc.idx[n]]), int(l.start[loc.idx[n]+1])
	}
	for j := lo; j < hi; j++ {
		w := l2.words[j]
		p := l2.interpolate(loc.idx[2], l2.counts[j], m.p1[w])
		for n := 3; n <= loc.top; n++ {
			l := &m.levels[n]
			for cur[n] < end[n] && l.words[cur[n]] < w {
				cur[n]++
			}
			var c uint32
			if cur[n] < end[n] && l.words[cur[n]] == w {
				c = l.counts[cur[n]]
			}
			p = l.interpolate(loc.idx[n], c, p)
		}
		f(w, p)
	}
}

// isSeen reports whether w follows the bigram context of loc.
func (m *Model) isSeen(loc *located, w uint32) bool {
	l2 := &m.levels[2]
	_, ok := slices.BinarySearch(l2.words[l2.start[loc.idx[2]]:l2.start[loc.idx[2]+1]], w)
	return ok
}

// TopK writes the k most probable next tokens after ctx, most probable
// first (ties by smaller ID), into ids and their natural-log probabilities
// into logProbs, and returns how many it wrote: min(k, len(ids),
// len(logProbs), VocabSize). The probabilities are exact: the same as
// LogProb and Logits give.
func (s *Session) TopK(ctx []uint32, k int, ids []uint32, logProbs []float32) int {
	m := s.m
	k = min(k, len(ids), len(logProbs), m.vocab)
	if k <= 0 {
		return 0
	}
	s.best = s.best[:0]
	loc := m.locate(ctx)
	if loc.top >= 2 {
		s.seen(&loc, func(w uint32, p float64) { s.offer(cand{w, p}, k) })
	}
	// Unseen tokens have probability backoff·P1(w): walk them in P1 order
	// until they can no longer enter the best k.
	for _, w := range m.rank {
		p := loc.backoff * m.p1[w]
		if len(s.best) == k && !weaker(s.best[0], cand{w, p}) {
			break
		}
		if loc.top >= 2 && m.isSeen(&loc, w) {
			continue
		}
		s.offer(cand{w, p}, k)
	}
	slices.SortFunc(s.best, func(a, b cand) int {
		switch {
		case weaker(b, a):
			return -1
		case weaker(a, b):
			return 1
		}
		return 0
	})
	for i, c := range s.best {
		ids[i], logProbs[i] = c.w, float32(math.Log(c.p))
	}
	return len(s.best)
}

// Logits fills logits (length VocabSize) with ln P(w | ctx) for every token.
func (s *Session) Logits(ctx []uint32, logits []float32) {
	m := s.m
	loc := m.locate(ctx)
	lb := float32(math.Log(loc.backoff))
	for w := range logits[:m.vocab] {
		logits[w] = m.logP1[w] + lb
	}
	if loc.top >= 2 {
		s.seen(&loc, func(w uint32, p float64) { logits[w] = float32(math.Log(p)) })
	}
}
