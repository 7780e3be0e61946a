package watermark

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Config is a parsed scheme SPEC string such as
// "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash". Its String method prints the
// canonical form: every parameter, in a fixed order, numbers in their
// shortest round-trip form, so that ParseSpec(c.String()) == c.
type Config interface {
	// SchemeName is the part of the SPEC before the colon, e.g. "kgw".
	SchemeName() string
	// String returns the canonical SPEC string.
	String() string
	// ContextWidth is the number of preceding tokens the keyed rule reads (h).
	ContextWidth() int
}

// DefaultSpec is the scheme a new key gets unless told otherwise.
const DefaultSpec = "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash"

// MaxContextWidth is the largest context width h a scheme may use.
const MaxContextWidth = 32

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
// al.: a γ-fraction of token IDs is green for each seed, and embedding adds δ
// to the logits of green tokens.
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

// Validate reports the first parameter that is out of range.
func (c KGWConfig) Validate() error {
	switch {
	case !(c.Gamma > 0 && c.Gamma < 1):
		return fmt.Errorf("gamma must be in (0, 1), got %v", c.Gamma)
	case math.IsNaN(c.Delta) || math.IsInf(c.Delta, 0) || c.Delta < 0:
		return fmt.Errorf("delta must be finite and >= 0, got %v", c.Delta)
	case c.H < 0 || c.H > MaxContextWidth:
		return fmt.Errorf("h must be in [0, %d], got %d", MaxContextWidth, c.H)
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

// GumbelConfig holds the parameters of the distortion-free Gumbel-max
// ("exponential", Aaronson) scheme: the next token is the candidate that
// maximizes r_t^(1/p_t) for keyed uniforms r_t seeded by the previous H tokens.
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
func (c GumbelConfig) Validate() error {
	if c.H < 1 || c.H > MaxContextWidth {
		return fmt.Errorf("h must be in [1, %d], got %d", MaxContextWidth, c.H)
	}
	return nil
}

// TournamentConfig holds the parameters of SynthID-style tournament
// sampling: M layers of keyed binary g-values, two candidates per match,
// seeded by the previous H tokens.
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
	switch {
	case c.M < 1 || c.M > 64:
		return fmt.Errorf("m must be in [1, 64], got %d", c.M)
	case c.H < 1 || c.H > MaxContextWidth:
		return fmt.Errorf("h must be in [1, %d], got %d", MaxContextWidth, c.H)
	}
	return nil
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// ParseSpec parses a SPEC string "scheme[:name=value,...]". Parameters may
// come in any order; missing ones take their defaults. Known schemes: kgw,
// gumbel, tournament. For kgw, giving h=0 without a seeding selects
// lefthash (Unigram), and payload_bits without radix selects radix 4.
func ParseSpec(spec string) (Config, error) {
	name, params, hasParams := strings.Cut(strings.TrimSpace(spec), ":")
	fail := func(format string, args ...any) (Config, error) {
		return nil, fmt.Errorf("scheme spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return fail("missing scheme name (want e.g. %q)", DefaultSpec)
	}
	var kv [][2]string
	if hasParams {
		if params == "" {
			return fail("nothing after ':' (want name=value pairs separated by commas)")
		}
		seen := map[string]bool{}
		for _, p := range strings.Split(params, ",") {
			k, v, ok := strings.Cut(p, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case p == "":
				return fail("empty parameter (stray comma?)")
			case !ok || v == "":
				return fail("parameter %q has no value (want name=value)", k)
			case k == "":
				return fail("value %q has no parameter name (want name=value)", v)
			case seen[k]:
				return fail("parameter %q given twice", k)
			}
			seen[k] = true
			kv = append(kv, [2]string{k, v})
		}
	}
	var c Config
	var err error
	switch name {
	case "kgw":
		c, err = parseKGW(kv)
	case "gumbel":
		g := DefaultGumbel()
		err = parseInts(kv, "gumbel", map[string]*int{"h": &g.H})
		if err == nil {
			err = g.Validate()
		}
		c = g
	case "tournament":
		tc := DefaultTournament()
		err = parseInts(kv, "tournament", map[string]*int{"m": &tc.M, "h": &tc.H})
		if err == nil {
			err = tc.Validate()
		}
		c = tc
	default:
		return fail("unknown scheme %q (known: kgw, gumbel, tournament)", name)
	}
	if err != nil {
		return fail("%v", err)
	}
	return c, nil
}

// parseInts sets integer parameters of a scheme whose parameters are all
// integers.
func parseInts(kv [][2]string, scheme string, params map[string]*int) error {
	for _, p := range kv {
		dst, ok := params[p[0]]
		if !ok {
			names := make([]string, 0, len(params))
			for n := range params {
				names = append(names, n)
			}
			slices.Sort(names)
			return fmt.Errorf("unknown parameter %q for %s (known: %s)", p[0], scheme, strings.Join(names, ", "))
		}
		v, err := strconv.Atoi(p[1])
		if err != nil {
			return fmt.Errorf("parameter %s=%q: not an integer", p[0], p[1])
		}
		*dst = v
	}
	return nil
}

func parseKGW(kv [][2]string) (KGWConfig, error) {
	c := DefaultKGW()
	seedingGiven, radixGiven, gammaGiven := false, false, false
	for _, p := range kv {
		k, v := p[0], p[1]
		var err error
		switch k {
		case "gamma":
			c.Gamma, err = parseFiniteFloat(v)
			gammaGiven = true
		case "delta":
			c.Delta, err = parseFiniteFloat(v)
		case "h":
			c.H, err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("not an integer")
			}
		case "seeding":
			c.Seeding, seedingGiven = Seeding(v), true
		case "payload_bits":
			c.PayloadBits, err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("not an integer")
			}
		case "radix":
			c.Radix, err = strconv.Atoi(v)
			radixGiven = true
			if err != nil {
				err = fmt.Errorf("not an integer")
			}
		default:
			return c, fmt.Errorf("unknown parameter %q for kgw (known: gamma, delta, h, seeding, payload_bits, radix)", k)
		}
		if err != nil {
			return c, fmt.Errorf("parameter %s=%q: %v", k, v, err)
		}
	}
	if c.H == 0 && !seedingGiven {
		c.Seeding = LeftHash
	}
	if c.PayloadBits > 0 && !radixGiven {
		c.Radix = 4
	}
	if c.PayloadBits > 0 && !gammaGiven && c.Radix > 0 {
		c.Gamma = 1 / float64(c.Radix)
	}
	return c, c.Validate()
}

func parseFiniteFloat(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return x, nil
}
