package watermark

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// Seeding says how a KGW green list is seeded from the context.
type Seeding string

const (
	// LeftHash seeds the green list with a keyed hash of the previous h
	// tokens (h = 0 gives the Unigram scheme: one fixed green list per key).
	LeftHash Seeding = "lefthash"
	// SelfHash seeds each candidate's green decision with an anchored
	// min-hash over the previous h tokens and the candidate itself.
	SelfHash Seeding = "selfhash"
)

// KGWConfig holds the parameters of the green-list scheme of Kirchenbauer et
// al. (SPEC "kgw"): a γ-fraction of token IDs is green for each seed, and
// embedding adds δ to the logits of green tokens.
type KGWConfig struct {
	Gamma   float64 // fraction of token IDs that are green, 0 < Gamma < 1
	Delta   float64 // logit bias added to green tokens, finite, >= 0
	H       int     // context width, 0..MaxContextWidth
	Seeding Seeding // LeftHash or SelfHash (SelfHash needs H >= 1)
	// PayloadBits > 0 makes the scheme carry a payload of that many bits
	// (at most 64, a multiple of log2(Radix)), e.g. a customer ID; Gamma
	// must then be 1/Radix.
	PayloadBits int
	Radix       int // payload colours: 2, 4, 8 or 16 (0 without a payload)
}

// DefaultKGW returns the default green-list parameters (γ 0.25, δ 2, h 4,
// selfhash), the "Reliability" paper's recommendation.
func DefaultKGW() KGWConfig {
	return KGWConfig{Gamma: 0.25, Delta: 2, H: 4, Seeding: SelfHash}
}

// SchemeName returns "kgw".
func (c KGWConfig) SchemeName() string { return "kgw" }

// ContextWidth returns h.
func (c KGWConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string. The payload parameters appear
// only when the scheme carries a payload.
func (c KGWConfig) String() string {
	s := "kgw:gamma=" + formatFloat(c.Gamma) + ",delta=" + formatFloat(c.Delta) +
		",h=" + strconv.Itoa(c.H) + ",seeding=" + string(c.Seeding)
	if c.PayloadBits > 0 {
		s += ",payload_bits=" + strconv.Itoa(c.PayloadBits) + ",radix=" + strconv.Itoa(c.Radix)
	}
	return s
}

// Null is the binomial null of green counts (P = floor(γ·2^64)/2^64, one
// trial per token), or with a payload the uniform null of colours over
// Radix colours in each of PayloadBits/log2(Radix) slots.
func (c KGWConfig) Null() Null {
	if c.PayloadBits > 0 && c.Radix > 1 {
		return Null{Kind: PayloadNull, Radix: c.Radix, Slots: c.PayloadBits / bits.TrailingZeros(uint(c.Radix))}
	}
	return Null{Kind: BinomialNull, P: math.Ldexp(float64(greenThreshold(c.Gamma)), -64), Trials: 1}
}

// Bind binds the parameters to a key (NewKGW).
func (c KGWConfig) Bind(key *Key) (Scheme, error) { return NewKGW(key, c) }

// Validate reports the first parameter that is out of range.
func (c KGWConfig) Validate() error {
	switch {
	case !(c.Gamma > 0 && c.Gamma < 1):
		return fmt.Errorf("gamma must be in (0, 1), got %v", c.Gamma)
	case math.IsNaN(c.Delta) || math.IsInf(c.Delta, 0) || c.Delta < 0:
		return fmt.Errorf("delta must be finite and >= 0, got %v", c.Delta)
	case c.H < 0 || c.H > MaxContextWidth:
		return checkContextWidth(c.H, 0)
	case c.Seeding != LeftHash && c.Seeding != SelfHash:
		return fmt.Errorf("seeding must be %q or %q, got %q", LeftHash, SelfHash, c.Seeding)
	case c.Seeding == SelfHash && c.H == 0:
		return fmt.Errorf("seeding=selfhash needs h >= 1 (h=0 is the Unigram scheme: use seeding=lefthash)")
	case c.PayloadBits < 0 || c.PayloadBits > 64:
		return fmt.Errorf("payload_bits must be in [0, 64], got %d", c.PayloadBits)
	case c.PayloadBits == 0 && c.Radix != 0:
		return fmt.Errorf("radix needs payload_bits > 0")
	case c.PayloadBits > 0:
		b := 0
		switch c.Radix {
		case 2, 4, 8, 16:
			b = bits.TrailingZeros(uint(c.Radix))
		default:
			return fmt.Errorf("radix must be 2, 4, 8 or 16, got %d", c.Radix)
		}
		if c.PayloadBits%b != 0 {
			return fmt.Errorf("payload_bits must be a multiple of log2(radix) = %d, got %d", b, c.PayloadBits)
		}
		if c.Gamma != 1/float64(c.Radix) {
			return fmt.Errorf("with a payload, gamma must be 1/radix = %v, got %v", 1/float64(c.Radix), c.Gamma)
		}
	}
	return nil
}

// parseKGW parses "kgw" parameters: gamma, delta, h, seeding, payload_bits,
// radix. Giving h=0 without a seeding selects lefthash (Unigram);
// payload_bits without radix selects radix 4, and without gamma, gamma
// 1/radix.
func parseKGW(kv []specParam) (Config, error) {
	c := DefaultKGW()
	given, err := applyParams("kgw", kv, map[string]paramSetter{
		"gamma":        floatParam(&c.Gamma),
		"delta":        floatParam(&c.Delta),
		"h":            intParam(&c.H),
		"seeding":      stringParam(&c.Seeding),
		"payload_bits": intParam(&c.PayloadBits),
		"radix":        intParam(&c.Radix),
	})
	if err != nil {
		return nil, err
	}
	if c.H == 0 && !given["seeding"] {
		c.Seeding = LeftHash
	}
	if c.PayloadBits > 0 && !given["radix"] {
		c.Radix = 4
	}
	if c.PayloadBits > 0 && !given["gamma"] && c.Radix > 0 {
		c.Gamma = 1 / float64(c.Radix)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// KGW is the green-list scheme bound to a key, optionally carrying a
// multi-bit payload. It is safe for concurrent use and allocates nothing per
// call.
//
// Without a payload a token is favoured ("green") when its mixed value v is
// below floor(γ·2^64). With a payload of B bits in radix r, the seed also
// picks one of L = B/log2(r) payload slots, v's top log2(r) bits are the
// token's colour, and a token is favoured when its colour equals the payload
// symbol of its slot. Both are "v - lo < width" for a per-seed lo.
type KGW struct {
	cfg       KGWConfig
	spec      string // canonical SPEC, computed once
	boxed     Config // cfg as a Config, boxed once so Config() allocates nothing
	keyID     string
	threshold uint64 // zero-bit: favoured iff v < threshold = floor(γ·2^64)
	delta     float32
	context   sipKey // lefthash: seed = SipHash(context, LE32 tokens)
	token     sipKey // selfhash: u(x) = SipHash(token, LE32 x)
	anchor    uint64 // selfhash: a(t) = mix64(anchor + spread(t))
	green     uint64 // v = mix64((seed ^ green) + spread(t))
	slot      uint64 // payload: slot = mulhi(mix64(seed ^ slot), L)
	colourBit uint   // payload: log2(radix)
	slots     int    // payload: L (0 without a payload)
	symbols   [64]uint8
	payload   uint64
	hasValue  bool // a payload value was set (WithPayload)
}

// NewKGW binds a green-list configuration to a key. With payload_bits > 0
// it embeds the payload 0 until WithPayload sets one.
func NewKGW(key *Key, cfg KGWConfig) (*KGW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kgw: %w", err)
	}
	if err := key.requireSecret(); err != nil {
		return nil, fmt.Errorf("kgw: %w", err)
	}
	s := &key.secret
	k := &KGW{
		cfg:       cfg,
		spec:      cfg.String(),
		boxed:     cfg,
		keyID:     key.id,
		threshold: greenThreshold(cfg.Gamma),
		delta:     float32(cfg.Delta),
		context:   deriveSipKey(s, "kgw/context"),
		token:     deriveSipKey(s, "kgw/token"),
		anchor:    deriveWord(s, "kgw/anchor"),
		green:     deriveWord(s, "kgw/green"),
		slot:      deriveWord(s, "kgw/slot"),
	}
	if cfg.PayloadBits > 0 {
		k.colourBit = uint(bits.TrailingZeros(uint(cfg.Radix)))
		k.slots = cfg.PayloadBits / int(k.colourBit)
	}
	return k, nil
}

// WithPayload returns a copy of k that embeds payload (the low PayloadBits
// bits; higher bits must be zero), e.g. a customer ID. The copy is a *KGW.
func (k *KGW) WithPayload(payload uint64) (Payloader, error) {
	if k.slots == 0 {
		return nil, fmt.Errorf("kgw: scheme %s carries no payload (set payload_bits)", k.spec)
	}
	if k.cfg.PayloadBits < 64 && payload>>k.cfg.PayloadBits != 0 {
		return nil, fmt.Errorf("kgw: payload %#x does not fit in %d bits", payload, k.cfg.PayloadBits)
	}
	c := *k
	c.payload, c.hasValue = payload, true
	for j := 0; j < c.slots; j++ {
		c.symbols[j] = uint8(payload >> (uint(j) * c.colourBit) & (uint64(1)<<c.colourBit - 1))
	}
	return &c, nil
}

// Payload returns the embedded payload and whether one was set.
func (k *KGW) Payload() (uint64, bool) { return k.payload, k.hasValue }

// PayloadBits returns the payload's width in bits (0: no payload).
func (k *KGW) PayloadBits() int { return k.cfg.PayloadBits }

// Deterministic is false: KGW samples, so repeated contexts are marked too.
func (k *KGW) Deterministic() bool { return false }

// greenThreshold returns floor(γ·2^64). For a float64 γ in (0,1) the product
// is exact, so P(green) = threshold/2^64 equals γ for every γ >= 2^-11.
func greenThreshold(gamma float64) uint64 { return uint64(math.Ldexp(gamma, 64)) }

// Config returns the scheme parameters (a KGWConfig).
func (k *KGW) Config() Config { return k.boxed }

// Params returns the scheme parameters as a KGWConfig.
func (k *KGW) Params() KGWConfig { return k.cfg }

// Spec returns the canonical SPEC string.
func (k *KGW) Spec() string { return k.spec }

// KeyID returns the public ID of the key.
func (k *KGW) KeyID() string { return k.keyID }

// ContextWidth returns h: the number of preceding tokens the rule reads.
// Positions with fewer than h preceding tokens are neither marked nor scored.
func (k *KGW) ContextWidth() int { return k.cfg.H }

// GreenProbability returns the exact probability that a token is green under
// the null hypothesis (text independent of the key): threshold/2^64.
func (k *KGW) GreenProbability() float64 { return math.Ldexp(float64(k.threshold), -64) }

// seedState holds what the rule needs from a context, computed once per
// context and reused for every candidate.
type seedState struct {
	seed uint64                  // lefthash seed
	u    [MaxContextWidth]uint64 // selfhash: u(x) of the h context tokens
}

// prepare computes the seed state of the last h tokens of ctx, which must
// hold at least h tokens.
func (k *KGW) prepare(ctx []uint32) seedState {
	var st seedState
	h := k.cfg.H
	ctx = ctx[len(ctx)-h:]
	if k.cfg.Seeding == LeftHash {
		st.seed = k.leftSeed(ctx)
		return st
	}
	for j, x := range ctx {
		st.u[j] = k.token.hashToken(x)
	}
	return st
}

// leftSeed is the lefthash seed of ctx under the context key.
func (k *KGW) leftSeed(ctx []uint32) uint64 { return contextSeed(k.context, ctx) }

// minhashMul is the odd multiplier that combines a context token's hash
// with the candidate's anchor in the selfhash min-hash.
const minhashMul = 0xbf58476d1ce4e5b9

// selfSeed is the anchored min-hash of candidate t over the hashes u of the
// h context tokens: min(a, min_j (u_j ^ a)·minhashMul) with
// a = mix64(anchor + spread(t)), all mod 2^64. The minimum does not depend
// on the order of u.
func (k *KGW) selfSeed(u *[MaxContextWidth]uint64, t uint32) uint64 {
	return k.selfSeedSpread(u, spread(t))
}

// selfSeedSpread is selfSeed with spread(t) precomputed.
func (k *KGW) selfSeedSpread(u *[MaxContextWidth]uint64, x uint64) uint64 {
	a := mix64(k.anchor + x)
	s := a
	for _, v := range u[:k.cfg.H] {
		s = min(s, (v^a)*minhashMul)
	}
	return s
}

// seedFor returns the seed of candidate t in a prepared context.
func (k *KGW) seedFor(st *seedState, t uint32) uint64 {
	if k.cfg.Seeding == LeftHash {
		return st.seed
	}
	return k.selfSeed(&st.u, t)
}

// window returns the favoured range of mixed values for seed: a token is
// favoured iff v - lo < width (unsigned).
func (k *KGW) window(seed uint64) (lo, width uint64) {
	if k.slots == 0 {
		return 0, k.threshold
	}
	width = uint64(1) << (64 - k.colourBit)
	slot, _ := bits.Mul64(mix64(seed^k.slot), uint64(k.slots))
	return uint64(k.symbols[slot]) * width, width
}

// mixed is the value v behind the green decision and the colour.
func (k *KGW) mixed(seed uint64, t uint32) uint64 { return mix64((seed ^ k.green) + spread(t)) }

// isGreen is the favoured decision for token t under seed.
func (k *KGW) isGreen(seed uint64, t uint32) bool {
	lo, width := k.window(seed)
	return k.mixed(seed, t)-lo < width
}

// Green reports whether token t is green after ctx (only the last h tokens
// matter). scored is false when ctx holds fewer than h tokens: such positions
// carry no mark.
func (k *KGW) Green(ctx []uint32, t uint32) (green, scored bool) {
	if len(ctx) < k.cfg.H {
		return false, false
	}
	st := k.prepare(ctx)
	return k.isGreen(k.seedFor(&st, t), t), true
}

// BiasLogits adds δ in place to the logits of the green token IDs after ctx;
// logits[i] is the logit of token ID i. It does nothing when ctx holds fewer
// than h tokens or δ is 0. Non-finite logits stay as they are (NaN+δ is NaN,
// ±Inf+δ is ±Inf); an empty slice is a no-op. It never panics and allocates
// nothing.
func (k *KGW) BiasLogits(ctx []uint32, logits []float32) {
	if len(ctx) < k.cfg.H || k.delta == 0 {
		return
	}
	st := k.prepare(ctx)
	// Branch-free: favoured adds add[1] = δ, others add add[0] = 0 (so -0
	// may become +0). spread(t) advances by one golden step per token ID.
	add := [2]float32{0, k.delta}
	gw := k.green
	var x uint64 // spread(i) = (i+1)·golden
	if k.cfg.Seeding == LeftHash {
		seed := st.seed ^ gw
		lo, width := k.window(st.seed)
		for i := range logits {
			x += golden
			_, borrow := bits.Sub64(mix64(seed+x)-lo, width, 0)
			logits[i] += add[borrow&1]
		}
		return
	}
	for i := range logits {
		x += golden
		seed := k.selfSeedSpread(&st.u, x)
		lo, width := k.window(seed)
		_, borrow := bits.Sub64(mix64((seed^gw)+x)-lo, width, 0)
		logits[i] += add[borrow&1]
	}
}

// SampleLogits draws the next token from candidates ids with logits, exactly
// from the watermarked distribution p'(t) ∝ exp(logit_t + δ·green(t)), using
// one number from rng. Pass ids == nil when logits covers the whole
// vocabulary (candidate i is token ID i). Typical callers pass the set left
// after temperature, top-k and top-p. When ctx holds fewer than h tokens it
// samples without the mark.
//
// Non-finite input: NaN and -Inf logits have probability 0. If any logit is
// +Inf, the +Inf candidates share all the mass as if their logits were equal
// and large (so the watermark still weighs them by e^δ). With no candidate of
// positive probability it returns ErrNoCandidates. It allocates nothing.
func (k *KGW) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return k.sample(ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits for candidates given as probabilities (or any
// non-negative weights; they need not sum to 1): p'(t) ∝ p_t·e^{δ·green(t)}.
// Negative and NaN weights count as 0; +Inf weights are handled as +Inf
// logits are in SampleLogits.
func (k *KGW) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return k.sample(ctx, ids, probs, true, rng)
}

func (k *KGW) sample(ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	if len(ctx) < k.cfg.H || k.delta == 0 {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	st := k.prepare(ctx)
	var green greenFunc
	if k.cfg.Seeding == LeftHash {
		seed := st.seed ^ k.green
		lo, width := k.window(st.seed)
		green = func(i int) bool { return mix64(seed+spread(tokenAt(ids, i)))-lo < width }
	} else {
		green = func(i int) bool {
			t := tokenAt(ids, i)
			return k.isGreen(k.selfSeed(&st.u, t), t)
		}
	}
	return drawToken(ids, vals, isProb, green, float64(k.delta), rng)
}

// AppendObservations appends to dst one observation for every position of
// tokens that has h preceding tokens (so len(tokens)-h of them, in order),
// computing each token's keyed hash once. It allocates only if dst must grow.
func (k *KGW) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := k.cfg.H
	if len(tokens) <= h {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, len(tokens)-h)[:start+len(tokens)-h]
	out := dst[start:]
	if k.cfg.Seeding == LeftHash {
		for i := range out {
			out[i].Tuple = Tuple{k.leftSeed(tokens[i : i+h]), tokens[i+h]}
		}
	} else {
		// The min-hash is order-free, so the hashes of the last h tokens
		// can live in a ring indexed by position mod h.
		var ring [MaxContextWidth]uint64
		for j := 0; j < h; j++ {
			ring[j] = k.token.hashToken(tokens[j])
		}
		r := 0
		for i, t := range tokens[h:] {
			out[i].Tuple = Tuple{k.selfSeed(&ring, t), t}
			ring[r] = k.token.hashToken(t)
			if r++; r == h {
				r = 0
			}
		}
	}
	k.score(out)
	return dst
}

// score fills in the rest of observations whose tuples are set.
func (k *KGW) score(out []Observation) {
	if k.slots != 0 {
		for i := range out {
			o := &out[i]
			slot, _ := bits.Mul64(mix64(o.Tuple.Seed^k.slot), uint64(k.slots))
			o.Score, o.Bits = 0, 0
			o.Slot, o.Colour = uint8(slot), uint8(k.mixed(o.Tuple.Seed, o.Tuple.Token)>>(64-k.colourBit))
		}
		return
	}
	for i := range out {
		o := &out[i]
		o.Score, o.Bits, o.Slot, o.Colour = 0, 0, 0, 0
		if k.mixed(o.Tuple.Seed, o.Tuple.Token) < k.threshold {
			o.Score = 1
		}
	}
}

// ArgmaxLogits is greedy decoding with the mark: it returns the candidate
// with the largest logit + δ·green(t) (the first one on ties), so that a
// green token within δ of the best is chosen over it. Pass ids == nil for a
// full vocabulary. NaN logits never win; +Inf logits beat every finite one.
// It returns ErrNoCandidates if every logit is -Inf or NaN, and allocates
// nothing.
func (k *KGW) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	if ids != nil && len(ids) != len(logits) {
		return 0, ErrLengthMismatch
	}
	marked := len(ctx) >= k.cfg.H && k.delta != 0
	var st seedState
	if marked {
		st = k.prepare(ctx)
	}
	best, bestInf, bestVal := -1, false, math.Inf(-1)
	for i, v := range logits {
		l := float64(v)
		if l != l || math.IsInf(l, -1) {
			continue
		}
		t := tokenAt(ids, i)
		inf := math.IsInf(l, 1)
		if inf {
			l = 0 // among +Inf logits only the bonus decides
		}
		if marked && k.isGreen(k.seedFor(&st, t), t) {
			l += float64(k.delta)
		}
		if best < 0 || (inf && !bestInf) || (inf == bestInf && l > bestVal) {
			best, bestInf, bestVal = i, inf, l
		}
	}
	if best < 0 {
		return 0, ErrNoCandidates
	}
	return tokenAt(ids, best), nil
}
