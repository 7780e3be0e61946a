package watermark

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"sync"
)

// SynthID-Text implementations whose g-values tracemark reproduces.
const (
	// SynthIDTransformers is Hugging Face transformers'
	// SynthIDTextWatermarkLogitsProcessor: hashes start from 1 and g-values
	// are read from a table of random bits drawn by torch's CPU generator.
	SynthIDTransformers = "transformers"
	// SynthIDDeepMind is google-deepmind/synthid-text's
	// SynthIDLogitsProcessor: hashes start from a SHA-256 of the key list and
	// a g-value is bit 30 of 12 further hash rounds.
	SynthIDDeepMind = "deepmind"
)

// SynthIDConfig holds the parameters of SynthID-Text (SPEC "synthid"):
// tournament sampling with depth keyed layers over n-grams hashed by an
// LCG, exactly as the engines compute it. The secret is the engine key (the
// list of depth integers), which lives in the key file, not in the SPEC.
type SynthIDConfig struct {
	NgramLen  int    // ngram_len: context of NgramLen-1 tokens plus the token, 2..MaxContextWidth+1
	Depth     int    // depth: the number of keys (tournament layers), 1..64
	Impl      string // impl: SynthIDTransformers or SynthIDDeepMind
	TableSize int    // table_size (transformers): sampling table entries, 1..2^24
	TableSeed uint32 // table_seed (transformers): torch manual_seed of the table
	History   int    // history: context_history_size, the repeated-context window, >= 1
}

// DefaultSynthID returns the engines' defaults: ngram_len 5, the 30 keys of
// the reference configuration, transformers' sampling table (2^16 entries,
// seed 0) and a context history of 1024.
func DefaultSynthID() SynthIDConfig {
	return SynthIDConfig{NgramLen: 5, Depth: 30, Impl: SynthIDTransformers, TableSize: 1 << 16, TableSeed: 0, History: 1024}
}

// SynthIDReferenceKeys returns the 30 keys of google-deepmind/synthid-text's
// DEFAULT_WATERMARKING_CONFIG. They are public, so text marked with them
// proves nothing about who generated it; tracemark uses them in tests and
// to read text from demonstrations that kept the default.
func SynthIDReferenceKeys() []int64 {
	return []int64{654, 400, 836, 123, 340, 443, 597, 160, 57, 29, 590, 639, 13, 715, 468,
		990, 966, 226, 324, 585, 118, 504, 421, 521, 129, 669, 732, 225, 90, 960}
}

// SchemeName returns "synthid".
func (c SynthIDConfig) SchemeName() string { return "synthid" }

// ContextWidth returns ngram_len - 1.
func (c SynthIDConfig) ContextWidth() int { return c.NgramLen - 1 }

// String returns the canonical SPEC string. The table parameters are
// printed only for the transformers implementation, which uses them.
func (c SynthIDConfig) String() string {
	s := "synthid:ngram_len=" + strconv.Itoa(c.NgramLen) + ",depth=" + strconv.Itoa(c.Depth) + ",impl=" + c.Impl
	if c.Impl == SynthIDTransformers {
		s += ",table_size=" + strconv.Itoa(c.TableSize) + ",table_seed=" + strconv.FormatUint(uint64(c.TableSeed), 10)
	}
	return s + ",history=" + strconv.Itoa(c.History)
}

// maxSynthIDTable is transformers' bound on sampling_table_size.
const maxSynthIDTable = 1 << 24

// Validate reports a parameter out of range.
func (c SynthIDConfig) Validate() error {
	if c.NgramLen < 2 || c.NgramLen > MaxContextWidth+1 {
		return fmt.Errorf("ngram_len must be in [2, %d], got %d", MaxContextWidth+1, c.NgramLen)
	}
	if c.Depth < 1 || c.Depth > 64 {
		return fmt.Errorf("depth must be in [1, 64], got %d", c.Depth)
	}
	if c.History < 1 || c.History > 1<<20 {
		return fmt.Errorf("history must be in [1, %d], got %d", 1<<20, c.History)
	}
	switch c.Impl {
	case SynthIDTransformers:
		if c.TableSize < 1 || c.TableSize > maxSynthIDTable {
			return fmt.Errorf("table_size must be in [1, %d], got %d", maxSynthIDTable, c.TableSize)
		}
	case SynthIDDeepMind:
		if c.TableSize != 0 || c.TableSeed != 0 {
			return fmt.Errorf("table_size and table_seed apply only to impl=%s", SynthIDTransformers)
		}
	default:
		return fmt.Errorf("impl must be %s or %s, got %q", SynthIDTransformers, SynthIDDeepMind, c.Impl)
	}
	return nil
}

// synthIDDefaultTableOnes is the number of ones in the default sampling
// table (2^16 entries, seed 0); a test checks it against the table.
const synthIDDefaultTableOnes = 32743

// Null: each observation counts the ones among depth g-values. A g-value
// is 1 with probability P = (ones in the table)/(table size) for the
// transformers table (32743/65536 for the default), 1/2 for DeepMind's hash
// bit; layers are independent because their keys are.
func (c SynthIDConfig) Null() Null {
	p := 0.5
	if c.Impl == SynthIDTransformers {
		ones := synthIDDefaultTableOnes
		if c.TableSize != 1<<16 || c.TableSeed != 0 {
			ones = sharedSynthIDTable(c.TableSize, c.TableSeed).ones
		}
		p = float64(ones) / float64(c.TableSize)
	}
	return Null{Kind: BinomialNull, P: p, Trials: c.Depth}
}

// parseSynthID parses "synthid" parameters: ngram_len, depth, impl,
// table_size, table_seed, history.
func parseSynthID(kv []specParam) (Config, error) {
	c := DefaultSynthID()
	var seed int
	given, err := applyParams("synthid", kv, map[string]paramSetter{
		"ngram_len": intParam(&c.NgramLen), "depth": intParam(&c.Depth), "impl": stringParam(&c.Impl),
		"table_size": intParam(&c.TableSize), "table_seed": intParam(&seed), "history": intParam(&c.History),
	})
	if err != nil {
		return nil, err
	}
	if seed < 0 || seed > math.MaxUint32 {
		return nil, fmt.Errorf("table_seed must be in [0, %d], got %d", uint32(math.MaxUint32), seed)
	}
	c.TableSeed = uint32(seed)
	if c.Impl == SynthIDDeepMind {
		if given["table_size"] || given["table_seed"] {
			return nil, fmt.Errorf("table_size and table_seed apply only to impl=%s", SynthIDTransformers)
		}
		c.TableSize = 0
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// EngineKeyWords returns depth: a SynthID key is a list of depth integers.
func (c SynthIDConfig) EngineKeyWords() int { return c.Depth }

// Bind binds the parameters to an engine key holding depth integers
// (NewSynthID).
func (c SynthIDConfig) Bind(key *Key) (Scheme, error) { return NewSynthID(key, c) }

// synthIDMul is the LCG multiplier of SynthID's accumulate_hash (the
// newlib/musl constant); every step is h <- (h + x)·mul + 1 modulo 2^64.
const synthIDMul = 6364136223846793005

// synthIDStep is one accumulate_hash step on int64 values (two's complement
// wrap-around, as torch's int64 arithmetic).
func synthIDStep(h, x uint64) uint64 { return (h+x)*synthIDMul + 1 }

// synthIDTable is transformers' sampling table: entry i is the i-th 32-bit
// output of MT19937 seeded with the seed, modulo 2 (torch.randint(0, 2)
// with a CPU generator), packed 64 to a word.
type synthIDTable struct {
	bits []uint64
	size uint64
	mask uint64 // size-1 when size is a power of two, else 0
	ones int
}

// synthIDTables caches sampling tables by (size, seed): a table depends on
// the configuration, not on the key, so schemes bound to many keys (a
// benchmark's random keys, a directory of key files) share one instead of
// drawing 2^16 Mersenne Twister outputs each. Tables are never written
// after they are built. At most maxSharedSynthIDTables are kept; beyond
// that a table is built for its scheme alone.
var synthIDTables struct {
	sync.Mutex
	m map[[2]uint64]*synthIDTable
}

// maxSharedSynthIDTables bounds synthIDTables.
const maxSharedSynthIDTables = 16

// sharedSynthIDTable returns the sampling table of size and seed, from the
// cache when it is there.
func sharedSynthIDTable(size int, seed uint32) *synthIDTable {
	k := [2]uint64{uint64(size), uint64(seed)}
	synthIDTables.Lock()
	defer synthIDTables.Unlock()
	if t := synthIDTables.m[k]; t != nil {
		return t
	}
	t := newSynthIDTable(size, seed)
	if synthIDTables.m == nil {
		synthIDTables.m = map[[2]uint64]*synthIDTable{}
	}
	if len(synthIDTables.m) < maxSharedSynthIDTables {
		synthIDTables.m[k] = t
	}
	return t
}

func newSynthIDTable(size int, seed uint32) *synthIDTable {
	t := &synthIDTable{bits: make([]uint64, (size+63)/64), size: uint64(size)}
	if size&(size-1) == 0 {
		t.mask = uint64(size - 1)
	}
	var mt mt19937
	mt.seed(seed)
	for i := 0; i < size; i++ {
		if mt.next()&1 == 1 {
			t.bits[i/64] |= 1 << (i % 64)
			t.ones++
		}
	}
	return t
}

// index is torch's floor modulo of the int64 n-gram key by the table size.
func (t *synthIDTable) index(k uint64) uint64 {
	if t.mask != 0 || t.size == 1 {
		return k & t.mask // two's complement: the floor modulo of a power of two
	}
	r := int64(k) % int64(t.size)
	if r < 0 {
		r += int64(t.size)
	}
	return uint64(r)
}

func (t *synthIDTable) at(i uint64) uint64 { return t.bits[i/64] >> (i % 64) & 1 }

// mt19937 is the 32-bit Mersenne Twister (Matsumoto and Nishimura, 1998),
// the generator behind torch's CPU random numbers.
type mt19937 struct {
	state [624]uint32
	i     int
}

func (m *mt19937) seed(s uint32) {
	m.state[0] = s
	for i := 1; i < 624; i++ {
		p := m.state[i-1]
		m.state[i] = 1812433253*(p^p>>30) + uint32(i)
	}
	m.i = 624
}

func (m *mt19937) next() uint32 {
	if m.i >= 624 {
		for k := 0; k < 624; k++ {
			y := m.state[k]&0x80000000 | m.state[(k+1)%624]&0x7fffffff
			v := m.state[(k+397)%624] ^ y>>1
			if y&1 == 1 {
				v ^= 0x9908b0df
			}
			m.state[k] = v
		}
		m.i = 0
	}
	y := m.state[m.i]
	m.i++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	return y ^ y>>18
}

// synthIDDeepMindIV is the reference's initial hash: the SHA-256 of the keys
// as little-endian int64s, read as a big-endian integer, modulo 2^63-1.
func synthIDDeepMindIV(keys []uint64) uint64 {
	buf := make([]byte, 8*len(keys))
	for i, k := range keys {
		binary.LittleEndian.PutUint64(buf[8*i:], k)
	}
	sum := sha256.Sum256(buf)
	v := new(big.Int).SetBytes(sum[:])
	return v.Mod(v, big.NewInt(math.MaxInt64)).Uint64()
}

// SynthID is SynthID-Text bound to an engine key. With c the LCG hash of
// the ngram_len-1 context tokens started from iv, a token t gets the n-gram
// hash u = step(c, t) and, in layer l with key k_l, the n-gram key
// step(u, k_l); its g-value is the table entry at that key modulo the table
// size (transformers) or bit 30 after 12 rounds x <- step(x, 1) >> 5
// (DeepMind). Embedding reweights the distribution layer by layer,
// q(t)·(1 + g_l(t) - E_q[g_l]), as both engines do; detection counts the
// g-values equal to 1.
type SynthID struct {
	cfg     SynthIDConfig
	spec    string
	boxed   Config
	keyID   string
	keys    [64]uint64
	keyMul  [64]uint64 // k_l·mul + 1
	iv      uint64
	table   *synthIDTable  // transformers
	weights [64]float64    // the reference's weighted-mean weights
	windows synthIDWindows // ReferenceScore's repetition masks
}

// NewSynthID binds a SynthID configuration to an engine key whose words
// are the key list (int64 values as two's complement), exactly cfg.Depth
// of them: an imported SynthIDTextWatermarkingConfig, or one made by
// GenerateEngineKey. A 32-byte tracemark key is ErrSecretKey.
func NewSynthID(key *Key, cfg SynthIDConfig) (*SynthID, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("synthid: %w", err)
	}
	words, err := key.requireEngine(cfg.Depth)
	if err != nil {
		return nil, fmt.Errorf("synthid: %w", err)
	}
	return newSynthID(key.ID(), words, cfg)
}

// NewSynthIDFromList binds cfg to a key list given directly (such as
// SynthIDReferenceKeys), under the public ID keyID. It is for tests and
// demonstrations; a deployment's keys belong in a key file.
func NewSynthIDFromList(keyID string, keys []int64, cfg SynthIDConfig) (*SynthID, error) {
	words := make([]uint64, len(keys))
	for i, k := range keys {
		words[i] = uint64(k)
	}
	return newSynthID(keyID, words, cfg)
}

func newSynthID(keyID string, words []uint64, cfg SynthIDConfig) (*SynthID, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("synthid: %w", err)
	}
	if len(words) != cfg.Depth {
		return nil, fmt.Errorf("synthid: the key holds %d keys but depth is %d", len(words), cfg.Depth)
	}
	s := &SynthID{cfg: cfg, spec: cfg.String(), boxed: cfg, keyID: keyID, iv: 1}
	copy(s.keys[:], words)
	for l, k := range words {
		s.keyMul[l] = k*synthIDMul + 1
	}
	if cfg.Impl == SynthIDTransformers {
		s.table = sharedSynthIDTable(cfg.TableSize, cfg.TableSeed)
	} else {
		s.iv = synthIDDeepMindIV(words)
	}
	// numpy.linspace(10, 1, depth), then scaled to sum to depth.
	d := cfg.Depth
	if d == 1 {
		s.weights[0] = 10
	} else {
		step := -9 / float64(d-1)
		for l := 0; l < d; l++ {
			s.weights[l] = float64(l)*step + 10
		}
		s.weights[d-1] = 1
	}
	sum := 0.0
	for l := 0; l < d; l++ {
		sum += s.weights[l]
	}
	for l := 0; l < d; l++ {
		s.weights[l] *= float64(d) / sum
	}
	return s, nil
}

// Spec returns the canonical SPEC string.
func (s *SynthID) Spec() string { return s.spec }

// KeyID returns the public ID of the key.
func (s *SynthID) KeyID() string { return s.keyID }

// ContextWidth returns ngram_len - 1.
func (s *SynthID) ContextWidth() int { return s.cfg.NgramLen - 1 }

// Config returns the scheme parameters (a SynthIDConfig).
func (s *SynthID) Config() Config { return s.boxed }

// Deterministic is true: the keyed g-values tie the choice to the context.
func (s *SynthID) Deterministic() bool { return true }

// ContextHash returns the hash of a context of ngram_len-1 tokens (the
// value the engines' repeated-context history holds).
func (s *SynthID) ContextHash(ctx []uint32) uint64 {
	h := s.iv
	for _, x := range ctx {
		h = synthIDStep(h, uint64(x))
	}
	return h
}

// gvalues returns the depth g-values of the n-gram whose hash is u (layer
// l in bit l). The layer key step(u, k_l) = u·mul + (k_l·mul + 1) uses the
// precomputed second term.
func (s *SynthID) gvalues(u uint64) uint64 {
	var g uint64
	um := u * synthIDMul
	km := s.keyMul[:s.cfg.Depth]
	if t := s.table; t != nil {
		tb := t.bits
		if t.mask != 0 || t.size == 1 {
			m := t.mask
			for l, k := range km {
				i := (um + k) & m
				g |= (tb[i>>6] >> (i & 63) & 1) << l
			}
			return g
		}
		for l, k := range km {
			g |= t.at(t.index(um+k)) << l
		}
		return g
	}
	// DeepMind: 12 dependent rounds per layer. Four layers at a time, so
	// that their multiplies overlap instead of waiting on each other.
	l := 0
	for ; l+4 <= len(km); l += 4 {
		x0, x1, x2, x3 := um+km[l], um+km[l+1], um+km[l+2], um+km[l+3]
		for r := 0; r < 12; r++ {
			x0 = synthIDRound(x0)
			x1 = synthIDRound(x1)
			x2 = synthIDRound(x2)
			x3 = synthIDRound(x3)
		}
		g |= (x0>>30&1 | x1>>30&1<<1 | x2>>30&1<<2 | x3>>30&1<<3) << l
	}
	for ; l < len(km); l++ {
		x := um + km[l]
		for r := 0; r < 12; r++ {
			x = synthIDRound(x)
		}
		g |= x >> 30 & 1 << l
	}
	return g
}

// synthIDRound is one round of the reference's get_gvals: step(x, 1) >> 5,
// the shift arithmetic on the signed value; step(x, 1) = x·mul + (mul + 1).
func synthIDRound(x uint64) uint64 {
	return uint64(int64(x*synthIDMul+(synthIDMul+1)) >> 5)
}

// GValues returns the g-values of token t after ctx (bit l for layer l,
// from the last ngram_len-1 tokens of ctx); ok is false when ctx holds
// fewer tokens.
func (s *SynthID) GValues(ctx []uint32, t uint32) (g uint64, ok bool) {
	h := s.cfg.NgramLen - 1
	if len(ctx) < h {
		return 0, false
	}
	return s.gvalues(synthIDStep(s.ContextHash(ctx[len(ctx)-h:]), uint64(t))), true
}

// tuple is the dedup identity of an n-gram: equal tuples have equal
// g-values under every key. With a power-of-two table only the low bits of
// the n-gram hash reach the table, so n-grams that agree there share their
// g-values and count once.
func (s *SynthID) tuple(u uint64) Tuple {
	if s.table != nil && s.table.mask != 0 {
		return Tuple{Seed: u & s.table.mask}
	}
	return Tuple{Seed: u}
}

// synthIDCtx is the g-value source of one context for tournamentDraw.
type synthIDCtx struct {
	s *SynthID
	c uint64
}

func (x synthIDCtx) gvalues(t uint32) uint64 { return x.s.gvalues(synthIDStep(x.c, uint64(t))) }

// SampleLogits draws the next token among candidates ids with logits from
// the watermarked distribution (one number from rng, by inverse CDF in
// candidate order). NaN and -Inf logits have probability 0. With fewer than
// ngram_len-1 context tokens it samples unmarked.
func (s *SynthID) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return s.sample(ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits for probabilities.
func (s *SynthID) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return s.sample(ctx, ids, probs, true, rng)
}

func (s *SynthID) sample(ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	h := s.cfg.NgramLen - 1
	if len(ctx) < h {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	base, ok := newBaseWeights(vals, isProb)
	if !ok {
		return 0, ErrNoCandidates
	}
	src := synthIDCtx{s, s.ContextHash(ctx[len(ctx)-h:])}
	return tournamentDraw(src, s.cfg.Depth, ids, &base, rng), nil
}

// ArgmaxLogits returns ErrGreedyUnmarkable, as the engines require
// sampling.
func (s *SynthID) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	return 0, ErrGreedyUnmarkable
}

// AppendObservations appends, for every position with ngram_len-1
// preceding tokens, its g-values and their count of ones.
func (s *SynthID) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := s.cfg.NgramLen - 1
	for i := h; i < len(tokens); i++ {
		u := synthIDStep(s.ContextHash(tokens[i-h:i]), uint64(tokens[i]))
		g := s.gvalues(u)
		dst = append(dst, Observation{Tuple: s.tuple(u), Score: float64(bits.OnesCount64(g)), Bits: g})
	}
	return dst
}

// SynthIDHistory is the engines' repeated-context history as they keep it
// while generating, one context at a time: the hashes of the last History
// contexts, initially all zero. A context is repeated when its hash is in
// the history; either way it then enters the history and the oldest entry
// leaves. Seen scans the window; ReferenceScore and RepetitionMask compute
// the same mask over a whole text with one probe per position.
type SynthIDHistory struct {
	ring   []uint64
	next   int
	filled int
}

// NewSynthIDHistory returns an empty history for cfg's window.
func NewSynthIDHistory(cfg SynthIDConfig) *SynthIDHistory {
	return &SynthIDHistory{ring: make([]uint64, cfg.History)}
}

// Reset empties the history (a new text).
func (h *SynthIDHistory) Reset() { h.next, h.filled = 0, 0 }

// Seen reports whether the context hash c is in the history and adds it.
func (h *SynthIDHistory) Seen(c uint64) bool {
	seen := c == 0 && h.filled < len(h.ring) // the initial zeros
	for i := 0; i < h.filled && !seen; i++ {
		seen = h.ring[i] == c
	}
	h.ring[h.next] = c
	h.next = (h.next + 1) % len(h.ring)
	h.filled = min(h.filled+1, len(h.ring))
	return seen
}
