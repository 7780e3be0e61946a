package watermark

import (
	"fmt"
	"math"
	"strconv"
	"sync"
)

// VLLMPRF names the keyed function of a vLLM Gumbel scheme.
type VLLMPRF string

const (
	// VLLMPhilox is vLLM's default PRF, "philox4x32-10-v1". It is fast and
	// not cryptographic.
	VLLMPhilox VLLMPRF = "philox"
	// VLLMHMAC is vLLM's reference PRF, "hmac-sha256-v1": cryptographic,
	// and much slower.
	VLLMHMAC VLLMPRF = "hmac-sha256"
)

func (p VLLMPRF) validate() error {
	if p != VLLMPhilox && p != VLLMHMAC {
		return fmt.Errorf("prf must be %s or %s, got %q", VLLMPhilox, VLLMHMAC, string(p))
	}
	return nil
}

// VLLMGumbelConfig holds the parameters of vLLM's "gumbel" watermark (SPEC
// "vllm-gumbel:context_width=4,prf=philox"): Gumbel-max sampling with the
// keyed uniforms of vLLM's PRF over the previous ContextWidth tokens. The
// key is vLLM's 64-bit integer key (an engine key of one word).
type VLLMGumbelConfig struct {
	H   int     // context_width, 1..MaxContextWidth; vLLM's default 4
	PRF VLLMPRF // philox (vLLM's default) or hmac-sha256
}

// DefaultVLLMGumbel returns vLLM's defaults: context_width 4, Philox.
func DefaultVLLMGumbel() VLLMGumbelConfig { return VLLMGumbelConfig{H: 4, PRF: VLLMPhilox} }

// SchemeName returns "vllm-gumbel".
func (c VLLMGumbelConfig) SchemeName() string { return "vllm-gumbel" }

// ContextWidth returns context_width.
func (c VLLMGumbelConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c VLLMGumbelConfig) String() string {
	return "vllm-gumbel:context_width=" + strconv.Itoa(c.H) + ",prf=" + string(c.PRF)
}

// Validate reports a parameter out of range.
func (c VLLMGumbelConfig) Validate() error {
	if err := checkContextWidth(c.H, 1); err != nil {
		return err
	}
	return c.PRF.validate()
}

// Null: each score -ln(1-u) is Exp(1) (up to u's 2^-24 grid), n of them
// Gamma(n, 1).
func (c VLLMGumbelConfig) Null() Null { return Null{Kind: GammaNull} }

// Bind binds the parameters to a one-word engine key.
func (c VLLMGumbelConfig) Bind(key *Key) (Scheme, error) { return NewVLLMGumbel(key, c) }

// parseVLLMGumbel parses "vllm-gumbel" parameters: context_width, prf.
func parseVLLMGumbel(kv []specParam) (Config, error) {
	c := DefaultVLLMGumbel()
	if _, err := applyParams("vllm-gumbel", kv, map[string]paramSetter{
		"context_width": intParam(&c.H),
		"prf":           stringParam(&c.PRF),
	}); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// VLLMDualGumbelConfig holds the parameters of vLLM's "dual_key_gumbel"
// watermark (SPEC "vllm-dual-gumbel:alpha=0.1,context_width=4,prf=philox"):
// each token is drawn by Gumbel-max under key A = derive(key, "key_a") with
// probability 1-alpha, else under key B = derive(key, "key_b").
type VLLMDualGumbelConfig struct {
	Alpha float64 // probability of key B, in [0, 1]; vLLM's default 0.1
	H     int     // context_width; default 4
	PRF   VLLMPRF // philox or hmac-sha256
}

// DefaultVLLMDualGumbel returns vLLM's defaults: alpha 0.1, context_width
// 4, Philox.
func DefaultVLLMDualGumbel() VLLMDualGumbelConfig {
	return VLLMDualGumbelConfig{Alpha: 0.1, H: 4, PRF: VLLMPhilox}
}

// SchemeName returns "vllm-dual-gumbel".
func (c VLLMDualGumbelConfig) SchemeName() string { return "vllm-dual-gumbel" }

// ContextWidth returns context_width.
func (c VLLMDualGumbelConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c VLLMDualGumbelConfig) String() string {
	return "vllm-dual-gumbel:alpha=" + formatFloat(c.Alpha) + ",context_width=" + strconv.Itoa(c.H) + ",prf=" + string(c.PRF)
}

// Validate reports a parameter out of range.
func (c VLLMDualGumbelConfig) Validate() error {
	if !(c.Alpha >= 0 && c.Alpha <= 1) {
		return fmt.Errorf("alpha must be in [0, 1], got %v", c.Alpha)
	}
	if err := checkContextWidth(c.H, 1); err != nil {
		return err
	}
	return c.PRF.validate()
}

// Null: tracemark scores both keys, unweighted: each observation is the
// sum of two independent Exp(1) scores, Gamma(2, 1).
func (c VLLMDualGumbelConfig) Null() Null { return Null{Kind: GammaNull, Shape: 2} }

// Bind binds the parameters to a one-word engine key.
func (c VLLMDualGumbelConfig) Bind(key *Key) (Scheme, error) { return NewVLLMDualGumbel(key, c) }

// parseVLLMDualGumbel parses "vllm-dual-gumbel" parameters: alpha,
// context_width, prf.
func parseVLLMDualGumbel(kv []specParam) (Config, error) {
	c := DefaultVLLMDualGumbel()
	if _, err := applyParams("vllm-dual-gumbel", kv, map[string]paramSetter{
		"alpha":         floatParam(&c.Alpha),
		"context_width": intParam(&c.H),
		"prf":           stringParam(&c.PRF),
	}); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// vllmUniforms evaluates one vLLM PRF under one 64-bit key. It is safe for
// concurrent use: the HMAC state comes from a pool.
type vllmUniforms struct {
	key  uint64
	prf  VLLMPRF
	pool *sync.Pool // of *vllmHMAC, for the HMAC PRF
}

func newVLLMUniforms(key uint64, prf VLLMPRF) *vllmUniforms {
	u := &vllmUniforms{key: key, prf: prf}
	if prf == VLLMHMAC {
		u.pool = &sync.Pool{New: func() any { return newVLLMHMAC(key) }}
	}
	return u
}

// vllmCtx holds one context: its entries as vLLM sees them (token IDs, or
// -1 padding) and, for Philox, the compressed state.
type vllmCtx struct {
	n     int
	c     [MaxContextWidth]int64
	state [4]uint32
	mac   *vllmHMAC
}

// prepare loads ctx (len(ctx) = h, entries as int64) into st.
func (u *vllmUniforms) prepare(st *vllmCtx, ctx []int64) {
	st.n = copy(st.c[:], ctx)
	if u.prf == VLLMPhilox {
		st.state = vllmPhiloxState(u.key, st.c[:st.n])
	} else if st.mac == nil {
		st.mac = u.pool.Get().(*vllmHMAC)
	}
}

// release returns pooled state.
func (u *vllmUniforms) release(st *vllmCtx) {
	if st.mac != nil {
		u.pool.Put(st.mac)
		st.mac = nil
	}
}

// word is the PRF word of token t after the prepared context.
func (u *vllmUniforms) word(st *vllmCtx, t uint32) uint32 {
	if u.prf == VLLMPhilox {
		return vllmPhiloxWord(u.key, &st.state, t)
	}
	return st.mac.word(st.c[:st.n], t)
}

// seed is a 64-bit identity of the prepared context for dedup: for Philox
// its keyed state (a bijection of contexts of up to four tokens), for HMAC
// an unkeyed hash of its entries.
func (u *vllmUniforms) seed(st *vllmCtx) uint64 {
	if u.prf == VLLMPhilox {
		return mix64(uint64(st.state[0])|uint64(st.state[1])<<32) ^ (uint64(st.state[2]) | uint64(st.state[3])<<32)
	}
	return ctxHash(st.c[:st.n])
}

// ctxHash is an unkeyed 64-bit hash of context entries.
func ctxHash(c []int64) uint64 {
	h := uint64(len(c)) * golden
	for _, x := range c {
		h = mix64(h ^ uint64(x) + golden)
	}
	return h
}

// tokensCtx copies the h tokens before position i of tokens into an int64
// context (vLLM's view of token IDs).
func tokensCtx(dst *[MaxContextWidth]int64, tokens []uint32) []int64 {
	for j, t := range tokens {
		dst[j] = int64(t)
	}
	return dst[:len(tokens)]
}

// gumbelNoise is vLLM's float32 noise -ln(-ln u).
func gumbelNoise(u float32) float32 {
	return -float32(math.Log(float64(-float32(math.Log(float64(u))))))
}

// exponentialScore is vLLM's detector score -ln(1-u) in float64. vLLM
// computes -log1p(-u); 1-u is exact in float64 for a float32 u in (0, 1),
// so -ln(1-u) is within an ulp of it, and math.Log is the faster of the two.
func exponentialScore(u float32) float64 { return -math.Log(1 - float64(u)) }

// VLLMGumbel is vLLM's "gumbel" watermark bound to its key: the next token
// maximizes logit + (-ln(-ln u)) in float32 over the candidates, with u the
// keyed uniform of (context, candidate). It is Deterministic: generate
// leaves repeated contexts unmarked, as vLLM's deduplicate_contexts does.
type VLLMGumbel struct {
	cfg   VLLMGumbelConfig
	spec  string
	boxed Config
	keyID string
	u     *vllmUniforms
	sets  ctxSets // EngineDetect's dedup sets
}

// NewVLLMGumbel binds a configuration to a one-word engine key.
func NewVLLMGumbel(key *Key, cfg VLLMGumbelConfig) (*VLLMGumbel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vllm-gumbel: %w", err)
	}
	w, err := key.requireEngine(1)
	if err != nil {
		return nil, fmt.Errorf("vllm-gumbel: %w", err)
	}
	return &VLLMGumbel{cfg: cfg, spec: cfg.String(), boxed: cfg, keyID: key.id, u: newVLLMUniforms(w[0], cfg.PRF)}, nil
}

// Spec returns the canonical SPEC string.
func (g *VLLMGumbel) Spec() string { return g.spec }

// KeyID returns the public ID of the key.
func (g *VLLMGumbel) KeyID() string { return g.keyID }

// ContextWidth returns context_width.
func (g *VLLMGumbel) ContextWidth() int { return g.cfg.H }

// Config returns the parameters (a VLLMGumbelConfig).
func (g *VLLMGumbel) Config() Config { return g.boxed }

// Deterministic is true: the mark fixes the token for a context.
func (g *VLLMGumbel) Deterministic() bool { return true }

// SampleLogits returns the candidate maximizing logit + noise as vLLM's CPU
// sampler computes it (float32, first index on ties). rng is used only
// when ctx holds fewer than context_width tokens (unmarked sampling). NaN
// and -Inf logits are never chosen.
func (g *VLLMGumbel) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return vllmGumbelSample(g.u, g.cfg.H, ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits with logits ln p.
func (g *VLLMGumbel) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return vllmGumbelSample(g.u, g.cfg.H, ctx, ids, probs, true, rng)
}

// ArgmaxLogits returns ErrGreedyUnmarkable, as vLLM leaves greedy requests
// unmarked.
func (g *VLLMGumbel) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	return 0, ErrGreedyUnmarkable
}

func vllmGumbelSample(u *vllmUniforms, h int, ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	if len(ctx) < h {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	var buf [MaxContextWidth]int64
	var st vllmCtx
	u.prepare(&st, tokensCtx(&buf, ctx[len(ctx)-h:]))
	defer u.release(&st)
	best, bestInf := -1, false
	var bestScore float32
	for i, v := range vals {
		if isProb {
			if !(v > 0) {
				continue
			}
			v = float32(math.Log(float64(v)))
		}
		if v != v || math.IsInf(float64(v), -1) {
			continue
		}
		inf := math.IsInf(float64(v), 1)
		if inf {
			v = 0 // among +Inf candidates the noise alone decides
		}
		s := v + gumbelNoise(vllmUniform(u.word(&st, tokenAt(ids, i))))
		if best < 0 || (inf && !bestInf) || (inf == bestInf && s > bestScore) {
			best, bestInf, bestScore = i, inf, s
		}
	}
	if best < 0 {
		return 0, ErrNoCandidates
	}
	return tokenAt(ids, best), nil
}

// AppendObservations appends, for every position with context_width
// preceding tokens, the score -ln(1-u) of its token (with the Philox PRF
// computed by negLog, within 3 ulp).
func (g *VLLMGumbel) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := g.cfg.H
	if g.u.prf == VLLMPhilox {
		return appendPhiloxGumbel(dst, tokens, h, g.u.key, nil)
	}
	var buf [MaxContextWidth]int64
	var st vllmCtx
	defer g.u.release(&st)
	for i := h; i < len(tokens); i++ {
		g.u.prepare(&st, tokensCtx(&buf, tokens[i-h:i]))
		t := tokens[i]
		dst = append(dst, Observation{Tuple: Tuple{g.u.seed(&st), t}, Score: exponentialScore(vllmUniform(g.u.word(&st, t)))})
	}
	return dst
}

// VLLMDualGumbel is vLLM's "dual_key_gumbel" watermark bound to its key.
// Embedding routes each token to key A with probability 1-alpha (one draw
// from rng), else to key B. Detection scores both keys: tracemark's score
// is the unweighted sum (Gamma(2n, 1) without the key); vLLM's own is the
// alpha-weighted sum (EngineDetect).
type VLLMDualGumbel struct {
	cfg   VLLMDualGumbelConfig
	spec  string
	boxed Config
	keyID string
	a, b  *vllmUniforms
	sets  ctxSets // EngineDetect's dedup sets
}

// NewVLLMDualGumbel binds a configuration to a one-word engine key.
func NewVLLMDualGumbel(key *Key, cfg VLLMDualGumbelConfig) (*VLLMDualGumbel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vllm-dual-gumbel: %w", err)
	}
	w, err := key.requireEngine(1)
	if err != nil {
		return nil, fmt.Errorf("vllm-dual-gumbel: %w", err)
	}
	return &VLLMDualGumbel{
		cfg: cfg, spec: cfg.String(), boxed: cfg, keyID: key.id,
		a: newVLLMUniforms(vllmDeriveKey(w[0], "key_a"), cfg.PRF),
		b: newVLLMUniforms(vllmDeriveKey(w[0], "key_b"), cfg.PRF),
	}, nil
}

// Spec returns the canonical SPEC string.
func (g *VLLMDualGumbel) Spec() string { return g.spec }

// KeyID returns the public ID of the key.
func (g *VLLMDualGumbel) KeyID() string { return g.keyID }

// ContextWidth returns context_width.
func (g *VLLMDualGumbel) ContextWidth() int { return g.cfg.H }

// Config returns the parameters (a VLLMDualGumbelConfig).
func (g *VLLMDualGumbel) Config() Config { return g.boxed }

// Deterministic is true: given the routing, the mark fixes the token.
func (g *VLLMDualGumbel) Deterministic() bool { return true }

// route picks key B with probability alpha, drawing once from rng unless
// alpha is 0 or 1 (as vLLM routes without a draw then).
func (g *VLLMDualGumbel) route(rng Uniform) *vllmUniforms {
	switch {
	case g.cfg.Alpha == 0:
		return g.a
	case g.cfg.Alpha == 1:
		return g.b
	case rng.Float64() < g.cfg.Alpha:
		return g.b
	}
	return g.a
}

// SampleLogits draws with key A or key B (see route), as VLLMGumbel does.
func (g *VLLMDualGumbel) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	if len(ctx) < g.cfg.H {
		return vllmGumbelSample(g.a, g.cfg.H, ctx, ids, logits, false, rng)
	}
	return vllmGumbelSample(g.route(rng), g.cfg.H, ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits with logits ln p.
func (g *VLLMDualGumbel) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	if len(ctx) < g.cfg.H {
		return vllmGumbelSample(g.a, g.cfg.H, ctx, ids, probs, true, rng)
	}
	return vllmGumbelSample(g.route(rng), g.cfg.H, ctx, ids, probs, true, rng)
}

// ArgmaxLogits returns ErrGreedyUnmarkable.
func (g *VLLMDualGumbel) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	return 0, ErrGreedyUnmarkable
}

// AppendObservations appends, for every position with context_width
// preceding tokens, the sum of its scores under key A and key B.
func (g *VLLMDualGumbel) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := g.cfg.H
	if g.a.prf == VLLMPhilox {
		return appendPhiloxGumbel(dst, tokens, h, g.a.key, &g.b.key)
	}
	var buf [MaxContextWidth]int64
	var sa, sb vllmCtx
	defer g.a.release(&sa)
	defer g.b.release(&sb)
	for i := h; i < len(tokens); i++ {
		c := tokensCtx(&buf, tokens[i-h:i])
		g.a.prepare(&sa, c)
		g.b.prepare(&sb, c)
		t := tokens[i]
		s := exponentialScore(vllmUniform(g.a.word(&sa, t))) + exponentialScore(vllmUniform(g.b.word(&sb, t)))
		dst = append(dst, Observation{Tuple: Tuple{g.a.seed(&sa), t}, Score: s})
	}
	return dst
}

// EngineKeyWords is 1: vLLM's key is one 64-bit integer.
func (c VLLMGumbelConfig) EngineKeyWords() int { return 1 }

// EngineKeyWords is 1: vLLM's key is one 64-bit integer.
func (c VLLMDualGumbelConfig) EngineKeyWords() int { return 1 }
