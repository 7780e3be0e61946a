package watermark

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// TournamentConfig holds the parameters of SynthID-style tournament
// sampling (SPEC "tournament"): M layers of keyed binary g-values, two
// candidates per match, seeded by the previous H tokens.
type TournamentConfig struct {
	M int // layers, 1..64
	H int // context width, 1..MaxContextWidth
}

// DefaultTournament returns m 30, h 4 (SynthID-Text's 30 keys and n-gram
// length 5).
func DefaultTournament() TournamentConfig { return TournamentConfig{M: 30, H: 4} }

// SchemeName returns "tournament".
func (c TournamentConfig) SchemeName() string { return "tournament" }

// ContextWidth returns h.
func (c TournamentConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c TournamentConfig) String() string {
	return "tournament:m=" + strconv.Itoa(c.M) + ",h=" + strconv.Itoa(c.H)
}

// Validate reports a parameter out of range.
func (c TournamentConfig) Validate() error {
	if c.M < 1 || c.M > 64 {
		return fmt.Errorf("m must be in [1, 64], got %d", c.M)
	}
	return checkContextWidth(c.H, 1)
}

// Null: each observation counts the ones among m fair bits.
func (c TournamentConfig) Null() Null { return Null{Kind: BinomialNull, P: 0.5, Trials: c.M} }

// Bind binds the parameters to a key (NewTournament).
func (c TournamentConfig) Bind(key *Key) (Scheme, error) { return NewTournament(key, c) }

// parseTournament parses "tournament" parameters: m, h.
func parseTournament(kv []specParam) (Config, error) {
	c := DefaultTournament()
	if _, err := applyParams("tournament", kv, map[string]paramSetter{"m": intParam(&c.M), "h": intParam(&c.H)}); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Tournament is SynthID-style tournament sampling bound to a key. Every
// candidate t after a context gets m keyed g-values g_l(t) in {0, 1}. A
// tournament draws 2^m candidates from the model's distribution, pairs them
// up, and in layer l keeps from each pair the one with the larger g_l (a
// fair coin on ties); the last survivor is the next token. tracemark samples
// the winner exactly from its closed-form distribution: with two candidates
// per match, layer l turns q into q(t)·(1 + g_l(t) - E_q[g_l]). Averaged over
// keys the output follows the model's distribution (non-distortionary);
// detection counts the g-values equal to 1 over all (token, layer) pairs,
// Binomial(n·m, 1/2) without the key.
type Tournament struct {
	cfg     TournamentConfig
	spec    string
	boxed   Config // cfg as a Config, boxed once so Config() allocates nothing
	keyID   string
	context sipKey // seed = SipHash(context, LE32 of the last h tokens)
	g       uint64 // g-values: bit l of mix64((seed ^ g) + spread(t))
	mask    uint64 // the low m bits
}

// NewTournament binds a tournament configuration to a key.
func NewTournament(key *Key, cfg TournamentConfig) (*Tournament, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tournament: %w", err)
	}
	if err := key.requireSecret(); err != nil {
		return nil, fmt.Errorf("tournament: %w", err)
	}
	mask := ^uint64(0)
	if cfg.M < 64 {
		mask = uint64(1)<<cfg.M - 1
	}
	return &Tournament{
		cfg:     cfg,
		spec:    cfg.String(),
		boxed:   cfg,
		keyID:   key.id,
		context: deriveSipKey(&key.secret, "tournament/context"),
		g:       deriveWord(&key.secret, "tournament/g"),
		mask:    mask,
	}, nil
}

// Spec returns the canonical SPEC string.
func (tn *Tournament) Spec() string { return tn.spec }

// KeyID returns the public ID of the key.
func (tn *Tournament) KeyID() string { return tn.keyID }

// ContextWidth returns h.
func (tn *Tournament) ContextWidth() int { return tn.cfg.H }

// Layers returns m.
func (tn *Tournament) Layers() int { return tn.cfg.M }

// Config returns the scheme parameters (a TournamentConfig).
func (tn *Tournament) Config() Config { return tn.boxed }

// Deterministic is true: the keyed g-values tie the choice to the context.
func (tn *Tournament) Deterministic() bool { return true }

// gvalues returns the m g-values of token t under seed, layer l in bit l.
func (tn *Tournament) gvalues(seed uint64, t uint32) uint64 {
	return mix64((seed^tn.g)+spread(t)) & tn.mask
}

// GValues returns the g-values of token t after ctx (bit l for layer l);
// ok is false when ctx holds fewer than h tokens.
func (tn *Tournament) GValues(ctx []uint32, t uint32) (g uint64, ok bool) {
	if len(ctx) < tn.cfg.H {
		return 0, false
	}
	return tn.gvalues(contextSeed(tn.context, ctx[len(ctx)-tn.cfg.H:]), t), true
}

// SampleLogits draws the tournament winner among candidates ids with
// logits (one number from rng). NaN and -Inf logits have probability 0; if
// any logit is +Inf, the +Inf candidates share the mass equally before the
// tournament. With fewer than h context tokens it samples unmarked.
func (tn *Tournament) SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error) {
	return tn.sample(ctx, ids, logits, false, rng)
}

// SampleProbs is SampleLogits for probabilities.
func (tn *Tournament) SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error) {
	return tn.sample(ctx, ids, probs, true, rng)
}

// baseWeights describes the pre-tournament distribution: weight(i) is
// proportional to the candidate's probability.
type baseWeights struct {
	vals   []float32
	isProb bool
	top    float64 // largest finite log-weight
	inf    bool    // some value is +Inf: only those count, equally
}

func newBaseWeights(vals []float32, isProb bool) (baseWeights, bool) {
	b := baseWeights{vals: vals, isProb: isProb, top: math.Inf(-1)}
	for _, v := range vals {
		l := logitOf(v, isProb)
		if math.IsInf(l, 1) {
			b.inf = true
		} else if l > b.top {
			b.top = l
		}
	}
	return b, b.inf || !math.IsInf(b.top, -1)
}

func (b *baseWeights) weight(i int) float64 {
	l := logitOf(b.vals[i], b.isProb)
	if b.inf {
		if math.IsInf(l, 1) {
			return 1
		}
		return 0
	}
	return math.Exp(l - b.top)
}

// logitOf maps a candidate value to a log-weight: logits pass through (NaN
// becomes -Inf); probabilities become their logarithm (<= 0 or NaN: -Inf).
func logitOf(v float32, isProb bool) float64 {
	if isProb {
		x := float64(v)
		if !(x > 0) {
			return math.Inf(-1)
		}
		return math.Log(x)
	}
	return logit(v)
}

func (tn *Tournament) sample(ctx []uint32, ids []uint32, vals []float32, isProb bool, rng Uniform) (uint32, error) {
	if ids != nil && len(ids) != len(vals) {
		return 0, ErrLengthMismatch
	}
	if len(ctx) < tn.cfg.H {
		return drawToken(ids, vals, isProb, nil, 0, rng)
	}
	base, ok := newBaseWeights(vals, isProb)
	if !ok {
		return 0, ErrNoCandidates
	}
	src := tournamentCtx{tn, contextSeed(tn.context, ctx[len(ctx)-tn.cfg.H:])}
	return tournamentDraw(src, tn.cfg.M, ids, &base, rng), nil
}

// gSource gives the g-values of a candidate token after one fixed context
// (layer l in bit l). Implementations are small values, so tournamentDraw
// is compiled for each and allocates nothing.
type gSource interface{ gvalues(t uint32) uint64 }

// tournamentCtx is the tournament's g-value source for one context seed.
type tournamentCtx struct {
	tn   *Tournament
	seed uint64
}

func (x tournamentCtx) gvalues(t uint32) uint64 { return x.tn.gvalues(x.seed, t) }

// tournamentDraw samples the winner of an m-layer tournament with two
// candidates per match among the candidates of base (ids), from its closed
// form: layer l turns q into q(t)·(1 + g_l(t) - E_q[g_l]). It draws one
// number from rng and picks by inverse CDF in candidate order.
func tournamentDraw[G gSource](src G, m int, ids []uint32, base *baseWeights, rng Uniform) uint32 {
	n := len(base.vals)
	if n <= stackCandidates {
		var q [stackCandidates]float64
		var g [stackCandidates]uint64
		total := 0.0
		for i := 0; i < n; i++ {
			q[i] = base.weight(i)
			g[i] = src.gvalues(tokenAt(ids, i))
			total += q[i]
		}
		for i := 0; i < n; i++ {
			q[i] /= total
		}
		for l := 0; l < m; l++ {
			mean := 0.0
			for i := 0; i < n; i++ {
				mean += q[i] * float64(g[i]>>l&1)
			}
			for i := 0; i < n; i++ {
				q[i] *= 1 + float64(g[i]>>l&1) - mean
			}
		}
		total = 0
		for i := 0; i < n; i++ {
			total += q[i]
		}
		return tokenAt(ids, pick(q[:n], rng.Float64()*total))
	}
	// Large sets: keep only the layer means, recompute each candidate's
	// weight from them (O(m²·n), no allocation).
	var mean [64]float64
	total := 0.0
	for i := 0; i < n; i++ {
		total += base.weight(i)
	}
	weightAfter := func(i, layers int, g uint64) float64 {
		w := base.weight(i) / total
		for l := 0; l < layers && w > 0; l++ {
			w *= 1 + float64(g>>l&1) - mean[l]
		}
		return w
	}
	for l := 0; l < m; l++ {
		s := 0.0
		for i := 0; i < n; i++ {
			if g := src.gvalues(tokenAt(ids, i)); g>>l&1 == 1 {
				s += weightAfter(i, l, g)
			}
		}
		mean[l] = s
	}
	total2 := 0.0
	for i := 0; i < n; i++ {
		total2 += weightAfter(i, m, src.gvalues(tokenAt(ids, i)))
	}
	final := func(i int) float64 { return weightAfter(i, m, src.gvalues(tokenAt(ids, i))) }
	return tokenAt(ids, pickBy(0, n, final, rng.Float64()*total2))
}

// ArgmaxLogits returns ErrGreedyUnmarkable: greedy decoding leaves the
// tournament no random candidates to play.
func (tn *Tournament) ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error) {
	return 0, ErrGreedyUnmarkable
}

// AppendObservations appends, for every position with h preceding tokens,
// its g-values and their count of ones.
func (tn *Tournament) AppendObservations(dst []Observation, tokens []uint32) []Observation {
	h := tn.cfg.H
	for i := h; i < len(tokens); i++ {
		seed, t := contextSeed(tn.context, tokens[i-h:i]), tokens[i]
		g := tn.gvalues(seed, t)
		dst = append(dst, Observation{Tuple: Tuple{seed, t}, Score: float64(bits.OnesCount64(g)), Bits: g})
	}
	return dst
}
