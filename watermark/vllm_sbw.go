package watermark

import (
	"fmt"
	"math"
	"strconv"
)

// SBW seeding rules (vLLM's sbw_scheme).
const (
	SBWSelfHash = "selfhash"
	SBWLeftHash = "lefthash"
)

// sbwInt31 is the mask and scale of SBW's green test.
const sbwInt31 = 0x7FFFFFFF

// VLLMSBWConfig holds the parameters of vLLM's "sbw" watermark (Stateless
// Bernoulli Watermarking; SPEC
// "vllm-sbw:seeding=selfhash,gamma=0.5,delta=2,context_width=4"): a token
// v is green when the low 31 bits of its Philox word under a 64-bit seed
// are below floor(gamma·(2^31-1)); delta is added to the logits of green
// tokens before ordinary sampling. selfhash seeds with
// min(key·h(c)·h(v) over the newest context_width-1 context tokens c,
// key·h(v)·h(v)); lefthash with key·Σ context tokens (int64 arithmetic,
// wrapping).
type VLLMSBWConfig struct {
	Seeding string  // selfhash (vLLM's default) or lefthash
	Gamma   float64 // green fraction in (0, 1); default 0.5
	Delta   float64 // logit bias, >= 0; default 2
	H       int     // context_width; default 4 (selfhash) or 1 (lefthash)
}

// DefaultVLLMSBW returns vLLM's defaults: selfhash, gamma 0.5, delta 2,
// context_width 4.
func DefaultVLLMSBW() VLLMSBWConfig {
	return VLLMSBWConfig{Seeding: SBWSelfHash, Gamma: 0.5, Delta: 2, H: 4}
}

// SchemeName returns "vllm-sbw".
func (c VLLMSBWConfig) SchemeName() string { return "vllm-sbw" }

// ContextWidth returns context_width.
func (c VLLMSBWConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c VLLMSBWConfig) String() string {
	return "vllm-sbw:seeding=" + c.Seeding + ",gamma=" + formatFloat(c.Gamma) + ",delta=" + formatFloat(c.Delta) + ",context_width=" + strconv.Itoa(c.H)
}

// Validate reports a parameter out of range.
func (c VLLMSBWConfig) Validate() error {
	if c.Seeding != SBWSelfHash && c.Seeding != SBWLeftHash {
		return fmt.Errorf("seeding must be %s or %s, got %q", SBWSelfHash, SBWLeftHash, c.Seeding)
	}
	if !(c.Gamma > 0 && c.Gamma < 1) {
		return fmt.Errorf("gamma must be in (0, 1), got %v", c.Gamma)
	}
	if !(c.Delta >= 0) || math.IsInf(c.Delta, 1) {
		return fmt.Errorf("delta must be finite and >= 0, got %v", c.Delta)
	}
	if sbwThreshold(c.Gamma) == 0 {
		return fmt.Errorf("gamma %v gives an empty green list", c.Gamma)
	}
	return checkContextWidth(c.H, 1)
}

// sbwThreshold is int(gamma·(2^31-1)), as vLLM truncates it.
func sbwThreshold(gamma float64) uint32 { return uint32(gamma * sbwInt31) }

// Null: each token is green with probability threshold/2^31.
func (c VLLMSBWConfig) Null() Null {
	return Null{Kind: BinomialNull, P: math.Ldexp(float64(sbwThreshold(c.Gamma)), -31), Trials: 1}
}

// Bind binds the parameters to a one-word engine key.
func (c VLLMSBWConfig) Bind(key *Key) (Scheme, error) { return NewVLLMSBW(key, c) }

// parseVLLMSBW parses "vllm-sbw" parameters: seeding, gamma, delta,
// context_width (default by seeding, as vLLM's).
func parseVLLMSBW(kv []specParam) (Config, error) {
	c := DefaultVLLMSBW()
	given, err := applyParams("vllm-sbw", kv, map[string]paramSetter{
		"seeding":       stringParam(&c.Seeding),
		"gamma":         floatParam(&c.Gamma),
		"delta":         floatParam(&c.Delta),
		"context_width": intParam(&c.H),
	})
	if err != nil {
		return nil, err
	}
	if !given["context_width"] && c.Seeding == SBWLeftHash {
		c.H = 1
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// VLLMSBW is vLLM's SBW watermark bound to its key. Safe for concurrent
// use; allocates nothing per token.
type VLLMSBW struct {
	cfg       VLLMSBWConfig
	spec      string
	boxed     Config
	keyID     string
	key       int64 // the key's bits as vLLM's int64 tensor holds them
	threshold uint32
	delta     float32
	self      bool
	sets      ctxSets // EngineDetect's dedup sets
}

// NewVLLMSBW binds a configuration to a one-word engine key. vLLM itself
// cannot hold a key of 2^63 or more in its int64 tensor; tracemark accepts
// any 64-bit key and computes with its two's-complement bits.
func NewVLLMSBW(key *Key, cfg VLLMSBWConfig) (*VLLMSBW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vllm-sbw: %w", err)
	}
	w, err := key.requireEngine(1)
	if err != nil {
		return nil, fmt.Errorf("vllm-sbw: %w", err)
	}
	return &VLLMSBW{cfg: cfg, spec: cfg.String(), boxed: cfg, keyID: key.id, key: int64(w[0]),
		threshold: sbwThreshold(cfg.Gamma), delta: float32(cfg.Delta), self: cfg.Seeding == SBWSelfHash}, nil
}

// Spec returns the canonical SPEC string.
func (s *VLLMSBW) Spec() string { return s.spec }

// KeyID returns the public ID of the key.
func (s *VLLMSBW) KeyID() string { return s.keyID }

// ContextWidth returns context_width.
func (s *VLLMSBW) ContextWidth() int { return s.cfg.H }

// Config returns the parameters (a VLLMSBWConfig).
func (s *VLLMSBW) Config() Config { return s.boxed }

// Deterministic is false: the bias leaves sampling random.
func (s *VLLMSBW) Deterministic() bool { return false }

// sbwCtx is a prepared context: lefthash's seed, or selfhash's hashed
// prefix (the newest h-1 context tokens).
type sbwCtx struct {
	seed   int64
	n      int
	prefix [MaxContextWidth]int64
}

// prepare computes what a context contributes. lefthash: raw sums the
// context's token values as vLLM's sampler does; with hashed set it sums
// their hashes, as vLLM's detector does (see docs/engines.md).
func (s *VLLMSBW) prepare(st *sbwCtx, ctx []int64, hashed bool) {
	if !s.self {
		var sum int64
		for _, c := range ctx {
			if hashed {
				c = sbwHashInt(c)
			}
			sum += c
		}
		st.seed = s.key * sum
		return
	}
	st.n = 0
	for _, c := range ctx[1:] {
		st.prefix[st.n] = s.key * sbwHashInt(c)
		st.n++
	}
}

// seedOf is the 64-bit seed of token v after a prepared context.
func (s *VLLMSBW) seedOf(st *sbwCtx, v uint32) int64 {
	if !s.self {
		return st.seed
	}
	hv := sbwHashInt(int64(v))
	seed := s.key * hv * hv
	for _, p := range st.prefix[:st.n] {
		if x := p * hv; x < seed {
			seed = x
		}
	}
	return seed
}

// green reports whether v is green after a prepared context.
func (s *VLLMSBW) green(st *sbwCtx, v uint32) bool {
	return sbwWord(uint64(s.seedOf(st, v)), v)&sbwInt31 < s.threshold
}

// Green reports whether t is green after ctx (the last context_width
// tokens); scored is false when ctx is shorter.
func (s *VLLMSBW) Green(ctx []uint32, t uint32) (green, scored bool) {
	if len(ctx) < s.cfg.H {
		return false, false
	}
	var buf [MaxContextWidth]int64
	var st sbwCtx
	s.prepare(&st, tokensCtx(&buf, ctx[len(ctx)-s.cfg.H:]), false)
	return s.green(&st, t), true
}

// SampleLogits adds delta to the green candidates' logits and samples with
// one draw from rng, as the plain sampler does.
func (s *VLLMSBW) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return s.sample(ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits for probabilities: p·e^delta for green ones.
func (s *VLLMSBW) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return s.sample(ctx, ids, probs, true, rng)
}

func (s *VLLMSBW) sample(ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	if len(ctx) < s.cfg.H || s.delta == 0 {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	var buf [MaxContextWidth]int64
	var st sbwCtx
	s.prepare(&st, tokensCtx(&buf, ctx[len(ctx)-s.cfg.H:]), false)
	return drawToken(ids, vals, isProb, func(i int) bool { return s.green(&st, tokenAt(ids, i)) }, float64(s.delta), rng)
}

// ArgmaxLogits is greedy decoding with the mark, as vLLM's SBW sampler does
// without a random sampler: the first candidate maximizing the float32 sum
// logit + delta·green. NaN and -Inf logits never win.
func (s *VLLMSBW) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	if ids != nil && len(ids) != len(logits) {
		return 0, ErrLengthMismatch
	}
	marked := len(ctx) >= s.cfg.H
	var buf [MaxContextWidth]int64
	var st sbwCtx
	if marked {
		s.prepare(&st, tokensCtx(&buf, ctx[len(ctx)-s.cfg.H:]), false)
	}
	best := -1
	var bestVal float32
	for i, v := range logits {
		if v != v || math.IsInf(float64(v), -1) {
			continue
		}
		t := tokenAt(ids, i)
		if marked && s.green(&st, t) {
			v += s.delta
		}
		if best < 0 || v > bestVal {
			best, bestVal = i, v
		}
	}
	if best < 0 {
		return 0, ErrNoCandidates
	}
	return tokenAt(ids, best), nil
}

// AppendObservations appends, for every position with context_width
// preceding tokens, 1 if its token is green under the sampler's rule.
func (s *VLLMSBW) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := s.cfg.H
	var blk sbwBlock
	var pos [philoxBatchN]int
	var green [philoxBatchN]bool
	dst, out := growObservations(dst, len(tokens)-h)
	for i0 := h; i0 < len(tokens); i0 += philoxBatchN {
		n := min(philoxBatchN, len(tokens)-i0)
		for l := range n {
			pos[l] = i0 + l
		}
		blk.green(s, tokens, i0, pos[:n], false, green[:n])
		o := out[i0-h : i0-h+n : i0-h+n]
		for l, t := range tokens[i0 : i0+n] {
			var score float64
			if green[l] {
				score = 1
			}
			o[l] = Observation{Tuple: Tuple{uint64(blk.seeds[l]), t}, Score: score}
		}
	}
	return dst
}

// EngineKeyWords is 1: vLLM's key is one 64-bit integer.
func (c VLLMSBWConfig) EngineKeyWords() int { return 1 }

// EngineKeyBits is 63: vLLM's SBW holds its key in a signed 64-bit tensor,
// so a key of 2^63 or more fails there; keygen draws keys below 2^63.
func (c VLLMSBWConfig) EngineKeyBits() int { return 63 }
