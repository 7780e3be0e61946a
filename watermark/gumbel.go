package watermark

import (
	"fmt"
	"math"
	"strconv"
)

// GumbelConfig holds the parameters of the distortion-free Gumbel-max
// ("exponential", Aaronson) scheme (SPEC "gumbel"): the next token is the
// candidate that maximizes r_t^(1/p_t) for keyed uniforms r_t seeded by the
// previous H tokens.
type GumbelConfig struct {
	H int // context width, 1..MaxContextWidth
}

// DefaultGumbel returns h 4, as vLLM uses.
func DefaultGumbel() GumbelConfig { return GumbelConfig{H: 4} }

// SchemeName returns "gumbel".
func (c GumbelConfig) SchemeName() string { return "gumbel" }

// ContextWidth returns h.
func (c GumbelConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c GumbelConfig) String() string { return "gumbel:h=" + strconv.Itoa(c.H) }

// Validate reports a parameter out of range.
func (c GumbelConfig) Validate() error { return checkContextWidth(c.H, 1) }

// Null: each observation is Exp(1), their sum Gamma(n, 1).
func (c GumbelConfig) Null() Null { return Null{Kind: GammaNull} }

// Bind binds the parameters to a key (NewGumbel).
func (c GumbelConfig) Bind(key *Key) (Scheme, error) { return NewGumbel(key, c) }

// parseGumbel parses "gumbel" parameters: h.
func parseGumbel(kv []specParam) (Config, error) {
	c := DefaultGumbel()
	if _, err := applyParams("gumbel", kv, map[string]paramSetter{"h": intParam(&c.H)}); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Gumbel is the distortion-free Gumbel-max scheme (Aaronson's "exponential"
// scheme, vLLM's default) bound to a key. Each candidate t after a context
// gets a keyed uniform r_t; the next token is the candidate that maximizes
// r_t^(1/p_t), i.e. logit_t - ln(-ln r_t): the Gumbel-max trick with keyed
// noise. Over the key, every step samples exactly from the model's
// distribution; detection sums -ln(1-r) over the tokens, which is
// Gamma(n, 1) without the key and larger with it.
//
// The choice is a function of the context: Gumbel is Deterministic, and
// generate.Sampler does not mark a context that already occurred in the same
// generation.
type Gumbel struct {
	cfg     GumbelConfig
	spec    string
	boxed   Config // cfg as a Config, boxed once so Config() allocates nothing
	keyID   string
	context sipKey // seed = SipHash(context, LE32 of the last h tokens)
	uniform uint64 // r = (mix64((seed ^ uniform) + spread(t)) >> 11 + 0.5) / 2^53
}

// NewGumbel binds a Gumbel configuration to a key.
func NewGumbel(key *Key, cfg GumbelConfig) (*Gumbel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gumbel: %w", err)
	}
	if err := key.requireSecret(); err != nil {
		return nil, fmt.Errorf("gumbel: %w", err)
	}
	return &Gumbel{
		cfg:     cfg,
		spec:    cfg.String(),
		boxed:   cfg,
		keyID:   key.id,
		context: deriveSipKey(&key.secret, "gumbel/context"),
		uniform: deriveWord(&key.secret, "gumbel/uniform"),
	}, nil
}

// Spec returns the canonical SPEC string.
func (g *Gumbel) Spec() string { return g.spec }

// KeyID returns the public ID of the key.
func (g *Gumbel) KeyID() string { return g.keyID }

// ContextWidth returns h.
func (g *Gumbel) ContextWidth() int { return g.cfg.H }

// Config returns the scheme parameters (a GumbelConfig).
func (g *Gumbel) Config() Config { return g.boxed }

// Deterministic is true: the mark fixes the token for a context.
func (g *Gumbel) Deterministic() bool { return true }

// seed is the context seed of the last h tokens of ctx (len(ctx) >= h).
func (g *Gumbel) seed(ctx []uint32) uint64 { return contextSeed(g.context, ctx[len(ctx)-g.cfg.H:]) }

// uniformOf is the keyed uniform r in (0, 1) of token t under seed.
func (g *Gumbel) uniformOf(seed uint64, t uint32) float64 {
	return (float64(mix64((seed^g.uniform)+spread(t))>>11) + 0.5) * 0x1p-53
}

// Uniform returns the keyed uniform r_t of token t after ctx; ok is false
// when ctx holds fewer than h tokens.
func (g *Gumbel) Uniform(ctx []uint32, t uint32) (r float64, ok bool) {
	if len(ctx) < g.cfg.H {
		return 0, false
	}
	return g.uniformOf(g.seed(ctx), t), true
}

// SampleLogits returns the candidate maximizing logit_t - ln(-ln r_t): a
// draw from softmax(logits) whose randomness comes from the key and the
// context. rng is used only when ctx holds fewer than h tokens (unmarked
// sampling). NaN and -Inf logits are never chosen; if any logit is +Inf,
// the choice is among the +Inf candidates.
func (g *Gumbel) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return g.sample(ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits for probabilities: the candidate maximizing
// r_t^(1/p_t). Zero, negative and NaN probabilities are never chosen.
func (g *Gumbel) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return g.sample(ctx, ids, probs, true, rng)
}

func (g *Gumbel) sample(ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	if len(ctx) < g.cfg.H {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	seed := g.seed(ctx)
	best, bestInf, bestScore := -1, false, math.Inf(-1)
	for i, v := range vals {
		l := float64(v)
		if isProb {
			if !(l > 0) {
				continue
			}
			l = math.Log(l)
		}
		if l != l || math.IsInf(l, -1) {
			continue
		}
		inf := math.IsInf(l, 1)
		if inf {
			l = 0 // among +Inf candidates the noise alone decides
		}
		score := l - math.Log(-math.Log(g.uniformOf(seed, tokenAt(ids, i))))
		if best < 0 || (inf && !bestInf) || (inf == bestInf && score > bestScore) {
			best, bestInf, bestScore = i, inf, score
		}
	}
	if best < 0 {
		return 0, ErrNoCandidates
	}
	return tokenAt(ids, best), nil
}

// ArgmaxLogits returns ErrGreedyUnmarkable: greedy decoding leaves the
// Gumbel noise nothing to choose.
func (g *Gumbel) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	return 0, ErrGreedyUnmarkable
}

// AppendObservations appends, for every position with h preceding tokens,
// the score -ln(1 - r) of its token.
func (g *Gumbel) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := g.cfg.H
	for i := h; i < len(tokens); i++ {
		seed, t := contextSeed(g.context, tokens[i-h:i]), tokens[i]
		dst = append(dst, Observation{Tuple: Tuple{seed, t}, Score: -math.Log1p(-g.uniformOf(seed, t))})
	}
	return dst
}
