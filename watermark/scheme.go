package watermark

import (
	"errors"
	"fmt"
)

// Embedder is the embedding side of a keyed scheme: what a sampler calls
// for every generated token. Implementations are safe for concurrent use and
// allocate nothing per call.
type Embedder interface {
	// SampleLogits draws the next token from candidates ids (nil: the whole
	// vocabulary, candidate i is token i) with logits, with the mark.
	SampleLogits(ctx []uint32, ids []uint32, logits []float32, rng Uniform) (uint32, error)
	// SampleProbs is SampleLogits for probabilities (non-negative weights).
	SampleProbs(ctx []uint32, ids []uint32, probs []float32, rng Uniform) (uint32, error)
	// ArgmaxLogits is greedy decoding with the mark, or ErrGreedyUnmarkable
	// for schemes that cannot mark a deterministic choice.
	ArgmaxLogits(ctx []uint32, ids []uint32, logits []float32) (uint32, error)
	// Deterministic reports whether the mark fixes the token for a context
	// (Gumbel) or strongly ties it to it (tournament): such schemes must not
	// mark a context that already occurred in the same generation, or text
	// would loop.
	Deterministic() bool
}

// Observer is the detection side of a keyed scheme: what detection reads of
// a token sequence. Implementations are safe for concurrent use.
type Observer interface {
	// Config returns the scheme's parameters; Config().Null() says how the
	// observations are distributed without the watermark.
	Config() Config
	// Spec is the canonical SPEC string (Config().String(), computed once).
	Spec() string
	// KeyID is the public ID of the key.
	KeyID() string
	// ContextWidth is h: positions with fewer preceding tokens are neither
	// marked nor scored.
	ContextWidth() int
	// AppendObservations appends one observation per position with a full
	// context (len(tokens)-h of them, in order).
	AppendObservations(dst []Observation, tokens []uint32) []Observation
}

// Scheme is a watermark scheme bound to a key: both sides of one keyed
// rule. *KGW, *Gumbel and *Tournament implement it.
type Scheme interface {
	Embedder
	Observer
}

// Payloader is a scheme that can carry a multi-bit payload, such as a
// customer ID. A Payloader whose PayloadBits is 0 carries none.
type Payloader interface {
	Scheme
	// PayloadBits is the payload's width in bits (0: no payload).
	PayloadBits() int
	// Payload returns the embedded payload and whether one was set.
	Payload() (uint64, bool)
	// WithPayload returns a copy that embeds payload (the low PayloadBits
	// bits; higher bits must be zero).
	WithPayload(payload uint64) (Payloader, error)
}

// CarriesPayload returns s as a Payloader if it carries a payload of at
// least one bit.
func CarriesPayload(s Scheme) (Payloader, bool) {
	p, ok := s.(Payloader)
	if !ok || p.PayloadBits() == 0 {
		return nil, false
	}
	return p, true
}

// RandomPayload returns s embedding a payload drawn uniformly from its
// 2^PayloadBits values with rng (like a customer ID), and the payload. A
// scheme without a payload is returned as it is, with payload 0.
func RandomPayload(s Scheme, rng interface{ Uint64() uint64 }) (Scheme, uint64, error) {
	p, ok := CarriesPayload(s)
	if !ok {
		return s, 0, nil
	}
	v := rng.Uint64()
	if b := p.PayloadBits(); b < 64 {
		v &= uint64(1)<<b - 1
	}
	w, err := p.WithPayload(v)
	if err != nil {
		return nil, 0, err
	}
	return w, v, nil
}

// Uniform is a source of uniform random numbers in [0, 1), such as
// *math/rand/v2.Rand. Samplers draw at most one number per call, so a seeded
// source makes sampling reproducible.
type Uniform interface{ Float64() float64 }

// Errors. They are sentinels, so failure paths allocate nothing.
var (
	// ErrNoCandidates: the candidate set is empty, or every candidate has a
	// logit of -Inf or NaN (probability 0, negative or NaN).
	ErrNoCandidates = errors.New("watermark: no candidate with positive probability")
	// ErrLengthMismatch: ids and values have different lengths.
	ErrLengthMismatch = errors.New("watermark: ids and values differ in length")
	// ErrGreedyUnmarkable: greedy decoding (temperature 0) has no randomness
	// for a distortion-free scheme to steer, so it cannot carry the mark.
	ErrGreedyUnmarkable = errors.New("watermark: a distortion-free scheme cannot mark greedy decoding (temperature 0); sample with temperature > 0")
)

// Tuple is the keyed input behind one scored token: the seed its keyed
// values were drawn with, and the token. Two positions with equal tuples
// have the same keyed values under every key, so detection counts each
// distinct tuple once (dedup); distinct tuples are independent under the null.
type Tuple struct {
	Seed  uint64
	Token uint32
}

// Observation is what detection sees of one token that has a full context.
type Observation struct {
	Tuple Tuple
	// Score: KGW, 1 if green else 0; Gumbel, -ln(1-r); tournament, the
	// number of layers whose g-value is 1. Unused with a payload.
	Score float64
	// Bits: tournament g-values, bit l for layer l.
	Bits uint64
	// Slot and Colour: KGW with a payload, the payload symbol this token
	// carries and its colour.
	Slot, Colour uint8
}

// NullKind names the null distribution of a scheme's observations. It is a
// string, so that a recorded kind never depends on the order of Go
// constants.
type NullKind string

const (
	// BinomialNull: each observation's Score counts successes in Trials
	// independent trials of probability P.
	BinomialNull NullKind = "binomial"
	// GammaNull: each observation's Score is Exp(1), so their sum over n
	// observations is Gamma(n, 1).
	GammaNull NullKind = "gamma"
	// PayloadNull: each observation's Colour is uniform over Radix colours,
	// independently, whatever its Slot (one of Slots).
	PayloadNull NullKind = "payload"
)

// Null describes a scheme's observations under the null hypothesis (text
// written without the key).
type Null struct {
	Kind   NullKind
	P      float64 // BinomialNull
	Trials int     // BinomialNull: trials per observation
	Radix  int     // PayloadNull
	Slots  int     // PayloadNull
	// Shape is GammaNull's shape per observation: each Score is
	// Gamma(Shape, 1), so n of them sum to Gamma(n·Shape, 1). 0 means 1.
	Shape int
}

// GammaShape returns the Gamma shape of n observations under a GammaNull.
func (n Null) GammaShape(obs int) float64 {
	if n.Shape > 1 {
		return float64(obs * n.Shape)
	}
	return float64(obs)
}

// NewScheme binds a configuration to a key (cfg.Bind(key)).
func NewScheme(key *Key, cfg Config) (Scheme, error) {
	if cfg == nil {
		return nil, fmt.Errorf("watermark: no scheme configuration")
	}
	return cfg.Bind(key)
}

// contextSeed is the lefthash seed: SipHash-2-4 under k of the tokens of
// ctx (oldest first), each as 4 little-endian bytes.
func contextSeed(k sipKey, ctx []uint32) uint64 {
	var buf [4 * MaxContextWidth]byte
	for j, x := range ctx {
		buf[4*j] = byte(x)
		buf[4*j+1] = byte(x >> 8)
		buf[4*j+2] = byte(x >> 16)
		buf[4*j+3] = byte(x >> 24)
	}
	return k.hash(buf[:4*len(ctx)])
}
