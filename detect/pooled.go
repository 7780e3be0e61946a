package detect

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"sync"

	"github.com/tracemark/tracemark/watermark"
)

// DedupKey keys the fingerprints that the corpus-level dedup and the n-gram
// exclusion use. It must be independent of every watermark key: then which
// tuples are dropped (by a fingerprint collision, a Bloom filter false hit
// or an excluded n-gram) never depends on the keyed values the test counts,
// and the test stays exact. A fresh random one per scan is right.
type DedupKey [2]uint64

// NewDedupKey returns a random DedupKey from crypto/rand.
func NewDedupKey() DedupKey {
	var b [16]byte
	rand.Read(b[:])
	return DedupKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fingerprint is a keyed 64-bit hash of a tuple.
func (k DedupKey) fingerprint(t watermark.Tuple) uint64 {
	return mix(mix(t.Seed^k[0]) + uint64(t.Token)*0x9e3779b97f4a7c15 + k[1])
}

// TupleSet is a set of tuple fingerprints with bounded memory: exact up to
// MaxExact entries (an open-addressing table of 8-byte fingerprints, kept
// between 3/8 and 3/4 full: a small table misses the caches less often, and
// lookups warmed 32 at a time pay little for the longer probe runs), then a
// Bloom filter of BloomBytes for everything after. A Bloom filter's
// false hits make it drop some new tuples; since its hashes are keyed by the
// DedupKey, which is independent of the watermark key, the dropped tuples
// are chosen independently of their keyed values, and the count over the
// kept ones is still exact under the null. It is not safe for concurrent
// use.
type TupleSet struct {
	key      DedupKey
	maxExact int
	table    []uint64 // 0 = empty; fp's home slot is fp >> shift
	shift    uint
	n        int
	bloom    []uint64 // allocated when the exact table is full
	bloomLen int      // words of the Bloom filter (0: none)
	inBloom  int
	sink     uint64 // keeps warm's loads from being optimized away
}

// NewTupleSet returns an empty set.
func NewTupleSet(key DedupKey, maxExact, bloomBytes int) *TupleSet {
	s := &TupleSet{key: key, maxExact: maxExact, table: make([]uint64, 1024), shift: 64 - 10}
	if bloomBytes > 0 {
		s.bloomLen = max(1, bloomBytes/8)
	}
	return s
}

// Len returns how many tuples were added (exactly, plus those in the Bloom
// filter).
func (s *TupleSet) Len() int { return s.n + s.inBloom }

// Exact reports whether no tuple has yet gone to the Bloom filter.
func (s *TupleSet) Exact() bool { return s.inBloom == 0 }

// Add inserts t and reports whether it was new.
func (s *TupleSet) Add(t watermark.Tuple) bool { return s.addFingerprint(s.fingerprintOf(t)) }

// fingerprintOf returns t's keyed fingerprint (never 0, the empty slot).
func (s *TupleSet) fingerprintOf(t watermark.Tuple) uint64 {
	fp := s.key.fingerprint(t)
	if fp == 0 {
		fp = 1
	}
	return fp
}

// warm loads the table slot each fingerprint of a batch starts probing at.
// The loads do not depend on each other, so the processor overlaps their
// cache misses; the lookups that follow then find the slots in cache. This
// is several times faster than probing one tuple at a time once the set
// outgrows the caches.
func (s *TupleSet) warm(fps []uint64) {
	var x uint64
	for _, fp := range fps {
		x ^= s.table[fp>>s.shift]
	}
	s.sink ^= x
}

// addFingerprint inserts a fingerprint and reports whether it was new.
func (s *TupleSet) addFingerprint(fp uint64) bool {
	if s.lookup(fp) {
		return false
	}
	if s.n < s.maxExact || s.bloomLen == 0 {
		s.insert(fp)
		return true
	}
	if s.bloom == nil {
		s.bloom = make([]uint64, s.bloomLen)
	}
	// Bloom filter with 7 probes by double hashing.
	m := uint64(len(s.bloom) * 64)
	// h1 is mixed, not fp itself: a Pooled shard's fingerprints share their
	// low bits.
	h1, h2 := mix(fp^0x9e3779b97f4a7c15), mix(fp)|1
	present := true
	for i := uint64(0); i < 7; i++ {
		b := (h1 + i*h2) % m
		if s.bloom[b/64]&(1<<(b%64)) == 0 {
			present = false
			s.bloom[b/64] |= 1 << (b % 64)
		}
	}
	if present {
		return false
	}
	s.inBloom++
	return true
}

func (s *TupleSet) lookup(fp uint64) bool {
	mask := uint64(len(s.table) - 1)
	for i := fp >> s.shift; ; i = (i + 1) & mask {
		switch s.table[i] {
		case fp:
			return true
		case 0:
			return false
		}
	}
}

func (s *TupleSet) insert(fp uint64) {
	if 4*(s.n+1) > 3*len(s.table) {
		// Homes are the fingerprints' top bits, so the table is ordered by
		// home and each entry moves to about twice its old slot: copying
		// in slot order writes the new table almost sequentially, without
		// the cache misses of rehashing into random slots.
		old := s.table
		s.table = make([]uint64, 2*len(old))
		s.shift--
		for _, v := range old {
			if v != 0 {
				s.place(v)
			}
		}
	}
	s.place(fp)
	s.n++
}

func (s *TupleSet) place(fp uint64) {
	mask := uint64(len(s.table) - 1)
	i := fp >> s.shift
	for s.table[i] != 0 {
		i = (i + 1) & mask
	}
	s.table[i] = fp
}

// Pooled is the corpus-level test of one scheme: the tuples of all
// documents, each distinct tuple counted once across the corpus. It is safe
// for concurrent use: the tuples are split by fingerprint into shards, each
// with its own lock, set and tally, so that workers adding documents at the
// same time rarely wait for each other. A tuple always falls in the same
// shard, so the shards' sets together dedup exactly as one set would.
type Pooled struct {
	// mu is held shared by Add and exclusively by Result, so that a result
	// sees whole documents and one evaluation runs at a time (it uses det's
	// buffers).
	mu     sync.RWMutex
	det    *Detector // for the null and the evaluation (not its buffers)
	key    DedupKey
	shards [pooledShards]pooledShard
}

// pooledShards is the number of shards of a Pooled test (a power of two).
// Shards are chosen by a fingerprint's low bits; table homes use its high
// bits, so each shard's table is filled evenly.
const pooledShards = 8

type pooledShard struct {
	mu    sync.Mutex
	set   *TupleSet
	tally Tally
	_     [64]byte // keeps neighbouring shards' locks off one cache line
}

// pooledBatch is how many observations Pooled.Add fingerprints at a time.
const pooledBatch = 256

// Memory defaults of the pooled test: 8 M exact tuples (at most 128 MiB),
// then a 64 MiB Bloom filter (about 1% false hits at 55 M more tuples;
// beyond that more new tuples are dropped, which costs power, never
// validity). Both are shared evenly by the shards.
const (
	DefaultPooledExact = 8 << 20
	DefaultPooledBloom = 64 << 20
)

// NewPooled returns an empty pooled test for scheme.
func NewPooled(scheme watermark.Observer, key DedupKey, opts Options) (*Pooled, error) {
	d, err := New(scheme, opts)
	if err != nil {
		return nil, err
	}
	p := &Pooled{det: d, key: key}
	for i := range p.shards {
		p.shards[i].set = NewTupleSet(key, DefaultPooledExact/pooledShards, DefaultPooledBloom/pooledShards)
	}
	return p, nil
}

// Add counts the observations of one document that are new to the corpus.
func (p *Pooled) Add(obs []watermark.Observation) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var fps, mine [pooledBatch]uint64
	var index [pooledBatch]int
	for len(obs) > 0 {
		b := obs[:min(pooledBatch, len(obs))]
		for i, o := range b {
			fps[i] = p.key.fingerprint(o.Tuple)
			if fps[i] == 0 {
				fps[i] = 1 // 0 marks an empty slot
			}
		}
		// Group the batch by shard (a counting sort), then visit each shard
		// once.
		var start [pooledShards + 1]int
		for _, fp := range fps[:len(b)] {
			start[fp&(pooledShards-1)+1]++
		}
		for k := 1; k <= pooledShards; k++ {
			start[k] += start[k-1]
		}
		next := start
		for i, fp := range fps[:len(b)] {
			k := fp & (pooledShards - 1)
			mine[next[k]], index[next[k]] = fp, i
			next[k]++
		}
		for k := range p.shards {
			if lo, hi := start[k], start[k+1]; lo < hi {
				p.shards[k].add(p.det.eval.null, b, mine[lo:hi], index[lo:hi])
			}
		}
		obs = obs[len(b):]
	}
}

// add counts the observations b[index[j]], of fingerprints fps[j], that
// are new, warming their table slots 32 at a time.
func (sh *pooledShard) add(null watermark.Null, b []watermark.Observation, fps []uint64, index []int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for lo := 0; lo < len(fps); lo += 32 {
		hi := min(lo+32, len(fps))
		sh.set.warm(fps[lo:hi])
		for j := lo; j < hi; j++ {
			if sh.set.addFingerprint(fps[j]) {
				sh.tally.Add(null, b[index[j]])
			}
		}
	}
}

// PooledResult is the corpus-level evidence.
type PooledResult struct {
	Result
	Exact bool  `json:"dedup_exact"` // false once the Bloom filter was used
	Tally Tally `json:"tally"`
}

// Result evaluates the pooled test so far.
func (p *Pooled) Result() PooledResult {
	p.mu.Lock() // no Add is running: the shards need no locks of their own
	defer p.mu.Unlock()
	var t Tally
	exact := true
	for k := range p.shards {
		sh := &p.shards[k]
		t.AddTally(&sh.tally)
		exact = exact && sh.set.Exact()
	}
	r := Result{Scheme: p.det.scheme.Spec(), KeyID: p.det.scheme.KeyID(), Alpha: p.det.opts.Alpha, Dedup: true, Tokenizer: p.det.opts.Tokenizer}
	p.det.eval.evaluate(&t, &r)
	return PooledResult{Result: r, Exact: exact, Tally: t}
}

// BenjaminiHochberg returns the Benjamini–Hochberg q-values (adjusted
// p-values), as log10, of p-values given as log10: sorted ascending, the
// i-th of m gets min over j >= i of m·p_(j)/j, capped at 1. Flagging the
// documents with q <= Q controls the false discovery rate at Q (for
// independent or positively dependent p-values).
func BenjaminiHochberg(log10p []float64) []float64 {
	m := len(log10p)
	q := make([]float64, m)
	idx := sortedIndex(log10p)
	running := 0.0 // log10 of the running minimum, capped at 1
	lm := math.Log10(float64(m))
	for r := m - 1; r >= 0; r-- {
		i := idx[r]
		v := math.Min(0, log10p[i]+lm-math.Log10(float64(r+1)))
		if r == m-1 || v < running {
			running = v
		}
		q[i] = running
	}
	return q
}

// NgramSet holds keyed fingerprints of token n-grams to exclude from
// scoring, e.g. every (h+1)-gram of the prompts sent to a suspect model,
// so that text copied from watermarked prompts cannot make a model look
// distilled. The exclusion depends only on token IDs and the DedupKey, not
// on the watermark key, so the test stays exact.
type NgramSet struct {
	n   int // tokens per n-gram (h+1)
	key DedupKey
	set map[uint64]struct{}
}

// NewNgramSet returns a set of n-grams of n tokens.
func NewNgramSet(n int, key DedupKey) *NgramSet {
	return &NgramSet{n: n, key: key, set: map[uint64]struct{}{}}
}

func (s *NgramSet) hash(g []uint32) uint64 {
	h := s.key[0]
	for _, t := range g {
		h = mix(h ^ (uint64(t) + s.key[1]))
	}
	return h
}

// AddText adds every n-gram of a token sequence.
func (s *NgramSet) AddText(ids []uint32) {
	for i := s.n; i <= len(ids); i++ {
		s.set[s.hash(ids[i-s.n:i])] = struct{}{}
	}
}

// Len returns the number of distinct n-grams held.
func (s *NgramSet) Len() int { return len(s.set) }

// Contains reports whether the n-gram g is excluded.
func (s *NgramSet) Contains(g []uint32) bool {
	_, ok := s.set[s.hash(g)]
	return ok
}

// N returns the n-gram length.
func (s *NgramSet) N() int { return s.n }

// Fingerprint returns the keyed fingerprint of a tuple under k, as
// TupleSet and the per-file tuple records of `scan --out` use it.
func (k DedupKey) Fingerprint(t watermark.Tuple) uint64 { return k.fingerprint(t) }
